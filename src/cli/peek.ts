import { isLockOn, readPosixLocks } from '../fs/proc-locks.js'
import { readdirSync, readlinkSync, statSync, type Stats } from 'node:fs'
import { type ConsumerDescription } from '../index.js'
import { isStale, pruneStale, PROCESSES_COLLECTION, type ProcessEntry } from '../registry/process-registry.js'
import { type Backend, type ChangeFilter, type Query } from '../backends/backend.js'

/*
 * Every openStore() registers the process, and registering prunes the stale entries of dead
 * processes: a doctor that opened a Store would erase the very entries it must report, and change
 * the store without --fix. So doctor reads the registry and the consumer positions here, through
 * the public Backend interface, on a bare backend, and prunes (with --fix) with the library's own
 * pruneStale. The consumer row shape mirrors src/changes/consumer.ts and src/store/describe.ts.
 */
const CONSUMERS = '_consumers'
/** The registry's lock, as register() takes it (the library exports no name for it): a prune never interleaves with a newcomer's singleton check. */
const REGISTRY_LOCK = 'registry'
const BY_ID: Query = { where: [], orderBy: { field: { kind: 'meta', name: 'id' }, direction: 'asc' } }
/** Changes read per page when counting what a filtered consumer has not seen. */
const COUNT_PAGE = 1000

/** A consumer's row in _consumers. `filter` is there when the library records the consumer's collections/ids. */
interface ConsumerState {
  position: number
  holder: { pid: number; host: string; heartbeatAt: number } | null
  filter?: ChangeFilter | null
}

export interface Peek {
  processes: ProcessEntry[]
  staleProcesses: ProcessEntry[]
  consumers: ConsumerDescription[]
  changes: { head: number; trimmedThrough: number }
}

function hasFilter(filter: ChangeFilter | null | undefined): filter is ChangeFilter {
  return filter != null && (filter.collections !== undefined || filter.ids !== undefined)
}

/**
 * How many changes after `position` (up to `head`) the consumer will be handed: all of them
 * without a filter, else only those of its collections and ids, counted by reading the log.
 */
async function countBehind(backend: Backend, position: number, head: number, filter: ChangeFilter | null | undefined): Promise<number> {
  if (!hasFilter(filter)) return Math.max(0, head - position)
  let count = 0
  let cursor = position
  while (cursor < head) {
    const batch = await backend.readChanges(cursor, COUNT_PAGE, filter)
    count += batch.changes.filter((c) => c.seq <= head).length
    const next = Math.max(batch.scannedThrough, batch.changes.at(-1)?.seq ?? cursor)
    if (next <= cursor) break
    cursor = next
  }
  return count
}

/**
 * Every durable consumer: its position, who runs it, and how far behind the log's head it is,
 * counting only the changes its filter lets through (when the store records the filter).
 */
export async function readConsumers(backend: Backend, changes: { head: number; trimmedThrough: number }): Promise<ConsumerDescription[]> {
  const rows = await backend.read((tx) => tx.find(CONSUMERS, BY_ID))
  const consumers: ConsumerDescription[] = []
  for (const row of rows) {
    const state = row.data as unknown as ConsumerState
    consumers.push({
      name: row.id,
      position: state.position,
      holder:
        state.holder === null
          ? null
          : { pid: state.holder.pid, host: state.holder.host, heartbeatAt: new Date(state.holder.heartbeatAt).toISOString() },
      behind: await countBehind(backend, state.position, changes.head, state.filter),
      trimmed: state.position < changes.trimmedThrough,
    })
  }
  return consumers
}

/** The registry's entries, split by the library's rule (isStale) into running processes and stale registrations. */
export async function readProcesses(backend: Backend, now = Date.now()): Promise<Pick<Peek, 'processes' | 'staleProcesses'>> {
  const entries = await backend.read(async (tx) =>
    (await tx.find(PROCESSES_COLLECTION, BY_ID)).map((r) => r.data as unknown as ProcessEntry),
  )
  return { processes: entries.filter((e) => !isStale(e, now)), staleProcesses: entries.filter((e) => isStale(e, now)) }
}

/** Reads the registry, the change-log bounds and the consumers, changing nothing. */
export async function peekStore(backend: Backend, now = Date.now()): Promise<Peek> {
  const head = await backend.changeHead()
  const { trimmedThrough } = await backend.readChanges(head, 1)
  const { processes, staleProcesses } = await readProcesses(backend, now)
  return {
    processes,
    staleProcesses,
    consumers: await readConsumers(backend, { head, trimmedThrough }),
    changes: { head, trimmedThrough },
  }
}

/**
 * Removes the registrations the library may prune (pruneStale, isPrunable: stale, and never a
 * singleton holder on another host, whose staleness is only this host's clock's guess), in one
 * write transaction under the registry's lock, as every openStore() does on registering. It goes
 * through the backend, not a Store: it needs no collection, schema or migration, so it works on a
 * store that has applied migrations this program does not know (a Store would open read-only).
 */
export async function pruneStaleProcesses(backend: Backend, now = Date.now()): Promise<ProcessEntry[]> {
  return backend.write(async (tx) => {
    await tx.lock(REGISTRY_LOCK)
    return pruneStale(tx, now)
  })
}

/*
 * What can be seen from outside of an SQLite store's -wal and -shm files, by a process that does
 * not have the store open (tandem doctor, before it opens anything): their sizes, and which
 * processes of this machine have the store open and whether the files they hold are still the
 * ones on disk. Only stat, readlink and /proc: the store's own files are never opened here
 * (closing a descriptor on one would drop this process's SQLite locks on it, were it open).
 *
 * Linux tells it in /proc: /proc/locks lists the POSIX locks every SQLite connection keeps (a
 * shared lock on the database file, and one on the -shm) with the holder's pid, whoever the user;
 * /proc/<pid>/fd shows which files a process has open, " (deleted)" after the name of one that is
 * gone (readable for this user's processes). Elsewhere `holders` is undefined.
 */

/** One of the store's files, as a process holding it sees it. */
export type StoreFilePart = 'database' | '-wal' | '-shm'

/** A process of this machine that has the store open. */
export interface StoreHolder {
  pid: number
  /** Files it has open that are no longer on disk under their name (deleted, or replaced by another file). */
  gone: StoreFilePart[]
  /** False when its open files could not be read (another user's process): `gone` is then unknown (empty). */
  filesSeen: boolean
}

export interface SideFilesView {
  /** Sizes of the -wal and -shm, or undefined when the file is not there. */
  walBytes: number | undefined
  shmBytes: number | undefined
  /** The processes that have the store open (this one excepted), or undefined when the system cannot tell. */
  holders: StoreHolder[] | undefined
}

const SUFFIX: Record<StoreFilePart, string> = { database: '', '-wal': '-wal', '-shm': '-shm' }

/** A WAL starts with a 32-byte header; a shorter, non-empty -wal was cut by something other than SQLite. */
export const WAL_HEADER_BYTES = 32

/** Looks at the store's side files and their holders. `file` is the database file, absolute, symlinks resolved. */
export function inspectSideFiles(file: string): SideFilesView {
  const stat = (suffix: string) => statSync(`${file}${suffix}`, { throwIfNoEntry: false })
  const database = stat('')
  return {
    walBytes: stat('-wal')?.size,
    shmBytes: stat('-shm')?.size,
    holders: database === undefined ? [] : findHolders(file, database, stat('-shm')),
  }
}

/** Pids (other than this one) with a POSIX lock on the database file or its -shm, or undefined where /proc/locks is not readable. */
function lockingPids(inodes: readonly Stats[]): Set<number> | undefined {
  const locks = readPosixLocks()
  if (locks === undefined) return undefined
  return new Set(locks.filter((l) => l.pid !== process.pid && inodes.some((s) => isLockOn(l, s))).map((l) => l.pid))
}

/** Which of the store's files `pid` has open, and which of those are gone, from /proc/<pid>/fd; undefined when not readable. */
function openParts(pid: number, file: string): { open: boolean; gone: StoreFilePart[] } | undefined {
  let fds: string[]
  try {
    fds = readdirSync(`/proc/${pid}/fd`)
  } catch {
    return undefined
  }
  let open = false
  const gone = new Set<StoreFilePart>()
  for (const fd of fds) {
    let target: string
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`)
    } catch {
      continue // closed meanwhile
    }
    for (const part of Object.keys(SUFFIX) as StoreFilePart[]) {
      const name = `${file}${SUFFIX[part]}`
      if (target === name) open = true
      else if (target === `${name} (deleted)`) {
        open = true
        gone.add(part)
      }
    }
  }
  return { open, gone: [...gone] }
}

/**
 * The processes that have the store open: those holding SQLite's locks on it, and (for this
 * user's processes) those with one of its files open, even a deleted one. A replaced -shm is
 * seen through the open files only: the lock is on the old inode.
 */
function findHolders(file: string, database: Stats, shm: Stats | undefined): StoreHolder[] | undefined {
  const locking = lockingPids(shm === undefined ? [database] : [database, shm])
  if (locking === undefined) return undefined
  let pids: string[]
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name))
  } catch {
    pids = []
  }
  const holders = new Map<number, StoreHolder>()
  for (const name of pids) {
    const pid = Number(name)
    if (pid === process.pid) continue
    const parts = openParts(pid, file)
    if (parts?.open === true) holders.set(pid, { pid, gone: parts.gone, filesSeen: true })
  }
  for (const pid of locking) if (!holders.has(pid)) holders.set(pid, { pid, gone: [], filesSeen: openParts(pid, file) !== undefined })
  return [...holders.values()].sort((a, b) => a.pid - b.pid)
}
