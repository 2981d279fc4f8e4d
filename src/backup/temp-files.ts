import { readdirSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { isPidAlive } from '../registry/process-registry.js'

/**
 * Temp files of backups and exports that nobody will finish. Every backup and export file is
 * first written as `.<final name>.<pid>-<8 hex>.tmp` beside its destination (createTempBeside)
 * and renamed into place when complete; the writer removes it when it fails. A process killed
 * meanwhile (SIGKILL, OOM, power cut) leaves it behind, and nothing else ever would remove it:
 * rotation only deletes finished backups. The pid in the name tells whether its writer still runs.
 * Only this machine's processes can be asked: give each machine its own backup folder.
 */
const TEMP_NAME = /^\.(.+)\.(\d+)-[0-9a-f]{8}\.tmp$/

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
 * The temp files in `dir` left by backups or exports whose process is not running (never this
 * process's own, which may be in progress), oldest name first; with `finalName`, only those that
 * were to become a file of that pattern. A missing folder has none.
 */
export function findOrphanTemps(dir: string, finalName?: RegExp): OrphanTemp[] {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return []
  }
  const orphans: OrphanTemp[] = []
  for (const name of names.sort()) {
    const match = TEMP_NAME.exec(name)
    if (match === null || (finalName !== undefined && !finalName.test(match[1]!))) continue
    const pid = Number(match[2])
    if (pid === process.pid || isPidAlive(pid)) continue
    const stat = statSync(join(dir, name), { throwIfNoEntry: false })
    if (stat?.isFile() !== true) continue
    orphans.push({ path: join(dir, name), finalName: match[1]!, pid, bytes: stat.size })
  }
  return orphans
}

/** Removes what findOrphanTemps finds; resolves with what it removed. A file gone meanwhile is no error. */
export function removeOrphanTemps(dir: string, finalName?: RegExp): OrphanTemp[] {
  const found = findOrphanTemps(dir, finalName)
  for (const orphan of found) rmSync(orphan.path, { force: true })
  return found
}
