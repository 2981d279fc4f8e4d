import type { CollectionsConfig, Store } from '../../src/index.js'
import { exportLines } from '../../src/lifecycle.js'

/** The store's NDJSON export as lines, with the header's exportedAt blanked (the one field that differs run to run). */
export async function exportText<C extends CollectionsConfig>(store: Store<C>, collections?: readonly string[]): Promise<string[]> {
  const lines: string[] = []
  for await (const line of exportLines(store, collections === undefined ? {} : { collections })) lines.push(line)
  lines[0] = lines[0]!.replace(/"exportedAt":"[^"]*"/, '"exportedAt":""')
  return lines
}

/** Everything an import could change: every record with its metadata, and the change log's head. */
export async function storeState<C extends CollectionsConfig>(store: Store<C>): Promise<{ lines: string[]; changeHead: number }> {
  return { lines: await exportText(store), changeHead: await store.backend.changeHead() }
}

/** One NDJSON record line, in export format. */
export function recordLine(
  collection: string,
  id: string,
  data: unknown,
  meta: { version?: number; createdAt?: string; updatedAt?: string; role?: string } = {},
): string {
  const createdAt = meta.createdAt ?? '2024-05-01T10:00:00.000Z'
  return JSON.stringify({
    collection,
    id,
    version: meta.version ?? 1,
    createdAt,
    updatedAt: meta.updatedAt ?? createdAt,
    role: meta.role ?? 'app',
    data,
  })
}

/** An export file's text: header, the record lines, and the end line counting them. */
export function exportFile(lines: readonly string[], kind = 'sqlite'): string {
  const records: Record<string, number> = {}
  const collections: string[] = []
  for (const line of lines) {
    let c: unknown
    try {
      c = (JSON.parse(line) as { collection?: unknown }).collection
    } catch {
      continue // a deliberately malformed line: the import stops there before the end line matters
    }
    if (typeof c !== 'string') continue
    if (records[c] === undefined) collections.push(c)
    records[c] = (records[c] ?? 0) + 1
  }
  const header = JSON.stringify({ tandem: 'export', format: 1, kind, collections, exportedAt: new Date().toISOString(), snapshot: true })
  return [header, ...lines, JSON.stringify({ tandem: 'end', records })].join('\n') + '\n'
}
