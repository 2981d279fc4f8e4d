import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { hostTag, parseTempName } from './durable-file.js'
import { REAL_FS_OPS } from './fs-ops.js'
import { acquireFileLock, DEFAULT_LOCK_STALE_MS } from './lock-file.js'
import { describeHolder, isStale, parseLock } from './lock-protocol.js'
import { isPidRunning } from './process-identity.js'

/** A file a crashed process left behind in a folder of safe files. */
export interface Leftover {
  kind: 'temp' | 'lock' | 'claim'
  path: string
  /** Who left it, for messages: "pid 123" or the lock's holder. */
  holder: string
}

/**
 * The leftovers of processes that died in `dir` (not recursive): temp files of writeFileAtomic
 * whose writer (on this host) no longer runs, lock files whose holder is dead (or whose lease
 * expired, see withFileLock), and takeover claims likewise. Only reads.
 */
export async function findLeftovers(dir: string, options: { staleMs?: number } = {}): Promise<Leftover[]> {
  const staleMs = options.staleMs ?? DEFAULT_LOCK_STALE_MS
  const found: Leftover[] = []
  const names = await readdir(dir).catch(() => [] as string[])
  for (const name of names.sort()) {
    const path = join(dir, name)
    const temp = parseTempName(name)
    if (temp !== undefined) {
      if (temp.host === hostTag() && temp.pid !== process.pid && !isPidRunning(temp.pid))
        found.push({ kind: 'temp', path, holder: `pid ${temp.pid}` })
      continue
    }
    const kind = name.endsWith('.lock') ? 'lock' : /\.lock\.takeover\.[0-9a-z]+\.\d+$/.test(name) ? 'claim' : undefined
    if (kind === undefined) continue
    const stat = await REAL_FS_OPS.stat(path)
    if (stat?.isFile() !== true) continue
    const raw = await REAL_FS_OPS.readFile(path).catch(() => undefined)
    if (raw === undefined) continue
    const lock = parseLock(raw, stat)
    if (isStale(lock, staleMs)) found.push({ kind, path, holder: describeHolder(lock) })
  }
  return found
}

/**
 * Removes what findLeftovers finds, for a process starting up. Dead locks go through the takeover
 * protocol (a lock is taken, then released), so this is safe while other processes use the files.
 * Resolves with what was removed.
 */
export async function cleanUpLeftovers(dir: string, options: { staleMs?: number } = {}): Promise<Leftover[]> {
  const removed: Leftover[] = []
  for (const leftover of await findLeftovers(dir, options)) {
    if (leftover.kind === 'lock') {
      // Taking the lock takes the dead one over; then let go at once.
      const lock = await acquireFileLock(leftover.path.slice(0, -'.lock'.length), { timeoutMs: 0, ...options }).catch(() => undefined)
      if (lock === undefined) continue
      await lock.release()
    } else if (leftover.kind === 'claim') {
      // A dead taker's claim may go only once the lock it was for is gone: a key never comes back,
      // so a later claim on it changes nothing. Before that, the claim still excludes other takers.
      const match = /^(.*\.lock)\.takeover\.([0-9a-z]+)\.\d+$/.exec(leftover.path)
      const lockPath = match?.[1]
      if (lockPath === undefined) continue
      const stat = await REAL_FS_OPS.stat(lockPath)
      const raw = stat === undefined ? undefined : await REAL_FS_OPS.readFile(lockPath).catch(() => undefined)
      if (stat !== undefined && raw !== undefined && parseLock(raw, stat).key === match?.[2]) continue
      await REAL_FS_OPS.unlink(leftover.path).catch(() => undefined)
    } else {
      // A dead writer's temp file: nobody ever opens it again.
      await REAL_FS_OPS.unlink(leftover.path).catch(() => undefined)
    }
    removed.push(leftover)
  }
  return removed
}
