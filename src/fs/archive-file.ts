import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs'
import { join } from 'node:path'

/** How archive files are cut: one per collection per day or per month of the records' creation. */
export type ArchivePeriod = 'day' | 'month'

export function archiveFileName(createdAtMs: number, period: ArchivePeriod): string {
  const iso = new Date(createdAtMs).toISOString()
  return `${period === 'day' ? iso.slice(0, 10) : iso.slice(0, 7)}.ndjson`
}

/**
 * Appends NDJSON lines to `<dir>/<collection>/<period>.ndjson` and fsyncs each file before
 * returning, so the lines are on disk before the records are deleted from the store. Only ever
 * appends: a crash mid-write can leave at most a torn last line, which readers skip; existing
 * lines are never rewritten. Callers hold the store's write lock, so appends never interleave.
 */
export function appendArchive(
  dir: string,
  collection: string,
  entries: readonly { createdAt: number; line: string }[],
  period: ArchivePeriod,
): string[] {
  const folder = join(dir, collection)
  mkdirSync(folder, { recursive: true, mode: 0o700 })
  const byFile = new Map<string, string[]>()
  for (const entry of entries) {
    const name = archiveFileName(entry.createdAt, period)
    const lines = byFile.get(name) ?? []
    lines.push(entry.line)
    byFile.set(name, lines)
  }
  const written: string[] = []
  for (const [name, lines] of byFile) {
    const path = join(folder, name)
    const fd = openSync(path, 'a', 0o600)
    try {
      // Start on a fresh line even if a previous crash left a torn one.
      writeSync(fd, `\n${lines.join('\n')}\n`)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    written.push(path)
  }
  return written
}
