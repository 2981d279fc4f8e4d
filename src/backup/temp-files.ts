import { readdirSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { hostTag, parseTempName } from '../fs/durable-file.js'
import { isPidAlive } from '../registry/process-registry.js'

/*
 * Temp files of backups and exports that nobody will finish. Every backup and export file is
 * first written as `.<final name>.<pid>-<8 hex>.<host>.tmp` beside its destination
 * (createTempBeside) and renamed into place when complete; the writer removes it when it fails. A
 * process killed meanwhile (SIGKILL, OOM, power cut) leaves it behind, and nothing else ever would
 * remove it: rotation only deletes finished backups. The pid in the name tells whether its writer
 * still runs, but only on the host that wrote it: another host's temp file is never taken for an
 * orphan (in a backup folder two machines share, it may be a backup in progress there).
 */

/** A name without a host (written before the host was recorded) is taken for an orphan only once untouched this long. */
export const UNTAGGED_TEMP_STALE_MS = 60 * 60 * 1000

/** A temp file whose writer is not running. */
export interface OrphanTemp {
  path: string
  /** The file it was to become (without the folder). */
  finalName: string
  /** The process that wrote it, not running now. */
  pid: number
  bytes: number
}

/**
 * The temp files in `dir` left by backups or exports of this host whose process is not running
 * (never this process's own, which may be in progress, nor another host's), oldest name first;
 * with `finalName`, only those that were to become a file of that pattern. A name without a host
 * counts only when untouched for UNTAGGED_TEMP_STALE_MS. A missing folder has none.
 */
export function findOrphanTemps(dir: string, finalName?: RegExp, now = Date.now()): OrphanTemp[] {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return []
  }
  const here = hostTag()
  const orphans: OrphanTemp[] = []
  for (const name of names.sort()) {
    const temp = parseTempName(name)
    if (temp === undefined || (finalName !== undefined && !finalName.test(temp.finalName))) continue
    if (temp.host !== undefined && temp.host !== here) continue
    if (temp.pid === process.pid || isPidAlive(temp.pid)) continue
    const stat = statSync(join(dir, name), { throwIfNoEntry: false })
    if (stat?.isFile() !== true) continue
    if (temp.host === undefined && now - stat.mtimeMs <= UNTAGGED_TEMP_STALE_MS) continue
    orphans.push({ path: join(dir, name), finalName: temp.finalName, pid: temp.pid, bytes: stat.size })
  }
  return orphans
}

/** Removes what findOrphanTemps finds; resolves with what it removed. A file gone meanwhile is no error. */
export function removeOrphanTemps(dir: string, finalName?: RegExp): OrphanTemp[] {
  const found = findOrphanTemps(dir, finalName)
  for (const orphan of found) rmSync(orphan.path, { force: true })
  return found
}
