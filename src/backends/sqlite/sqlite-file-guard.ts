import type { TandemError } from '../../errors.js'
import type { SqliteHandle } from './sqlite-config.js'
import { isBusy } from './sqlite-errors.js'
import { StoreFiles, locksStillShared, storeFilesChanged, walReplaced, type StoreFileChange } from './sqlite-files.js'

/**
 * How often, at most, a commit first checks that the store's files are still the ones this
 * process opened (three stats, see sqlite-files.ts); an idle process checks every FILES_IDLE_CHECK_MS.
 * Three stats cost about 17 µs on the 2-core test VM, an awaited insert about 100 µs: at most one
 * check per 2 ms keeps the cost under 1% of a write-bound process. A commit that slips into a
 * deleted -wal within those 2 ms is still saved: the check that finds it copies the -wal over.
 */
const FILES_CHECK_EVERY_MS = 2
export const FILES_IDLE_CHECK_MS = 1000
/** How long a process that found its -wal deleted keeps trying to copy it into the store file. */
const RESCUE_WITHIN_MS = 2000

/**
 * What an SQLite backend does about its files being deleted or replaced under it (an engine-only
 * concept: PostgreSQL keeps no files of the store in the client). It looks (StoreFiles) before
 * commits and while idle, saves what it can of a deleted -wal, and from then on holds the fault
 * every later call of the backend rejects with. Its one piece of state is that fault: unset, then
 * set once, for good.
 */
export class SqliteFileGuard {
  readonly #path: string
  readonly #readOnly: boolean
  /** The writer connection: a deleted -wal is checkpointed through it. */
  readonly #writer: SqliteHandle
  readonly #files: StoreFiles
  #checkedAt = 0
  #fault: TandemError | undefined
  readonly #listeners: ((error: unknown) => void)[] = []

  constructor(path: string, readOnly: boolean, writer: SqliteHandle) {
    this.#path = path
    this.#readOnly = readOnly
    this.#writer = writer
    this.#files = new StoreFiles(path)
  }

  /** Set once the store's files changed under this process: every later call rejects with it. */
  get fault(): TandemError | undefined {
    return this.#fault
  }

  /** Calls `listener` (once, on a microtask) when the fault is set. */
  onFault(listener: (error: unknown) => void): void {
    this.#listeners.push(listener)
  }

  writeLockRecord(): { dev: number; ino: number; start: number } | undefined {
    return this.#files.writeLockRecord()
  }

  /** Before a commit: the store's files deleted or replaced since open, looked at most every FILES_CHECK_EVERY_MS. */
  changedBeforeCommit(): StoreFileChange[] | undefined {
    const now = performance.now()
    if (now - this.#checkedAt < FILES_CHECK_EVERY_MS) return undefined
    this.#checkedAt = now
    return this.#files.changes()
  }

  /** The idle check (a timer): unless a commit looked lately, the files changed since open, if any. */
  changedWhileIdle(): StoreFileChange[] | undefined {
    if (performance.now() - this.#checkedAt < FILES_IDLE_CHECK_MS / 2) return undefined
    this.#checkedAt = performance.now()
    return this.#files.changes()
  }

  /**
   * The store's files changed under this process (no write transaction open): if only the -wal
   * went (the -shm, which carries the locks every process shares, is intact), copy what it held
   * into the database file — this process still has the deleted file open, and a checkpoint
   * through it is the one way to keep the commits only it holds. Then refuse everything from now
   * on, and tell the listeners.
   */
  async fail(changed: StoreFileChange[]): Promise<TandemError> {
    if (this.#fault !== undefined) return this.#fault
    let rescue: string
    if (locksStillShared(changed)) {
      rescue = await this.#rescueWal(walReplaced(changed))
    } else if (changed.some((c) => c.file === 'database')) {
      rescue = 'This process was still using the old file, so what it wrote since is not in the new one.'
    } else {
      rescue =
        "The -shm holds the locks every process shares: processes that open the store from now on get a new one, and their writes could collide with this process's."
    }
    this.#fault = storeFilesChanged(this.#path, changed, rescue)
    for (const listener of this.#listeners) queueMicrotask(() => listener(this.#fault))
    return this.#fault
  }

  /**
   * Only the -wal changed: copies what the old one held into the database file if it was deleted
   * and this process may write (not if it was replaced, see walReplaced; a read-only connection
   * cannot checkpoint). Says what became of the commits.
   */
  async #rescueWal(replaced: boolean): Promise<string> {
    const survive = 'they survive only while a process that had the store open before closes it normally — do not kill them.'
    if (replaced) return `Its commits were not copied into the store file (copying them now could mix them with the new -wal): ${survive}`
    if (this.#readOnly)
      return 'This process opened the store read-only: it wrote none of the commits the -wal held and cannot copy them into the store file; the processes that wrote them do so when they notice.'
    const outcome = await this.#checkpointWal()
    if (outcome === 'copied') return 'The commits it held were copied into the store file first, so none is lost.'
    const why = outcome === 'busy' ? 'other processes kept it busy' : outcome.message
    return `Its commits could not be copied into the store file (${why}): ${survive}`
  }

  /** A TRUNCATE checkpoint, retried while other processes hold the locks it needs: 'copied' when the whole WAL went into the database file, else 'busy' or the error. */
  async #checkpointWal(): Promise<'copied' | 'busy' | Error> {
    const until = performance.now() + RESCUE_WITHIN_MS
    for (;;) {
      try {
        const [row] = this.#writer.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[]
        if (row?.busy === 0) return 'copied'
      } catch (error) {
        if (!isBusy(error)) return error instanceof Error ? error : new Error(String(error))
      }
      if (performance.now() >= until) return 'busy'
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }
}
