import type { Backend, ChangeFilter, ChangeRow } from '../backends/backend.js'
import { ChangesTrimmedError, TandemError } from '../errors.js'
import { toChange, type AnyChange, type Change, type ChangeStart, type FeedObserver, type FeedResume } from './change.js'
import type { ChangeHub } from './change-hub.js'

/** How many changes one read of the log fetches. */
const BATCH_SIZE = 500
/** Retry waits after a failed read of the log: 50 ms doubling to 2 s, jittered; a wake-up (the listener back, a commit) cuts one short. */
const RETRY_MIN_MS = 50
const RETRY_MAX_MS = 2000

/**
 * Errors a reader cannot go past by reading again: changes retention dropped (skipping them would
 * lose them), a closed store, a lease another process took, the store's files deleted or replaced
 * under this process (it refuses every read from then on), and bugs (TypeError, RangeError).
 * Everything else (a lost connection, a server restarting or down, a timeout, an I/O error) is
 * retried from the same position until it goes through or the reader is stopped. READ_ONLY is
 * retried too: a reader only meets it from the engine, and there it can pass (SQLite's
 * SQLITE_READONLY_RECOVERY while another process recovers the WAL; a PostgreSQL failover).
 */
const FINAL_CODES: ReadonlySet<string> = new Set(['CHANGES_TRIMMED', 'STORE_CLOSED', 'CONSUMER_LOST', 'STORE_FILES_CHANGED'])

function isFinal(error: unknown): boolean {
  if (error instanceof TandemError) return FINAL_CODES.has(error.code)
  return error instanceof TypeError || error instanceof RangeError
}

/** The error a reader reports when reading the log fails and it starts retrying. */
function feedInterrupted(cause: unknown, position: number | undefined, consumer: string | undefined): TandemError {
  const who = consumer === undefined ? 'The change feed' : `Consumer "${consumer}"`
  const reason = (cause as Error | null)?.message ?? String(cause)
  const at = position === undefined ? 'from its starting point' : `after seq ${position}`
  const code = cause instanceof TandemError ? `${cause.code}: ` : ''
  return new TandemError(
    'FEED_INTERRUPTED',
    `${who} cannot read the change log (${code}${reason}). It keeps retrying (at most every ${RETRY_MAX_MS / 1000} s) and resumes ${at}: no change is missed or repeated. Nothing to do unless it lasts; check that the database is reachable.`,
    {
      cause,
      hint: 'Wait for onResume, or check the database server and its connections.',
    },
  )
}

export interface ChangeStreamOptions {
  filter: ChangeFilter | undefined
  since: ChangeStart
  /** Named in ChangesTrimmedError when a durable consumer falls behind. */
  consumer?: string
  onClose?: () => void
  /** Told when reading the log starts failing (FEED_INTERRUPTED) and when it goes through again. */
  observer?: FeedObserver
}

/**
 * Changes in seq order, each once, read from the change log (the source of truth) whenever the
 * hub says something committed. Pull-based: nothing is read ahead of the reader beyond one batch,
 * so a slow reader holds no growing buffer. Ends (done) when closed or when the store closes;
 * throws ChangesTrimmedError rather than skip changes retention has dropped. A read that fails
 * for any other reason (the server down or restarting, a lost connection, an I/O error) is retried
 * from the same position with capped, jittered backoff: the iterator just waits meanwhile, and
 * the observer hears FEED_INTERRUPTED once and `onResume` when the log can be read again.
 */
export class ChangeStream<E extends AnyChange = Change> implements AsyncIterableIterator<E> {
  readonly #backend: Backend
  readonly #hub: ChangeHub
  readonly #options: ChangeStreamOptions
  /** Resolved at creation: 'now' means the log's end when changes() was called, not when first read. */
  readonly #start: Promise<number>
  /** See headTried. */
  readonly #headTried: Promise<unknown>
  #cursor: number | undefined
  #buffer: ChangeRow[] = []
  #closed = false
  /**
   * Ends the waits of next() calls waiting for the next commit; close() calls them too. (Not a race
   * against one promise that settles on close: each wait would leave a reaction on it until then.)
   */
  readonly #wakers = new Set<() => void>()
  #delivered: number | undefined
  /** The hub generation before the last read, when that read reached the end of the log. */
  #readAt: number | undefined
  #observer: FeedObserver | undefined
  /** Set while reading the log fails: the FEED_INTERRUPTED reported, and since when. */
  #interrupted: { error: TandemError; since: number; attempts: number } | undefined

  /** @internal use store.changes() or collection.watch() */
  constructor(backend: Backend, hub: ChangeHub, options: ChangeStreamOptions) {
    this.#backend = backend
    this.#hub = hub
    this.#options = options
    this.#observer = options.observer
    const { since } = options
    hub.attach()
    // 'now' is fixed by reading the head, retried like any read; undefined if closed first.
    let tried!: () => void
    const firstTry = new Promise<void>((resolve) => (tried = resolve))
    const readHead = (): Promise<number> => {
      const read = backend.changeHead()
      void read.then(tried, tried)
      return read
    }
    this.#start = since === 'now' ? this.#retrying(readHead).then((head) => head ?? 0) : Promise.resolve(since === 'beginning' ? 0 : since)
    this.#start.catch(() => undefined) // Surfaced by next(); never an unhandled rejection.
    this.#headTried = Promise.race([this.#start, firstTry]).catch(() => undefined)
  }

  /** Sets who hears about interruptions (replacing any observer given at creation); returns the stream. */
  observe(observer: FeedObserver): this {
    this.#observer = observer
    return this
  }

  /** The FEED_INTERRUPTED error while reading the log fails (the reader is retrying), else undefined. */
  get interrupted(): TandemError | undefined {
    return this.#interrupted?.error
  }

  /** Settles once the stream's starting point is fixed (for 'now': the log's head has been read). */
  get started(): Promise<unknown> {
    return this.#start
  }

  /**
   * Settles once the starting point is fixed, or as soon as the first read of the head has failed
   * (the stream then goes on retrying it): what the store's writes wait for (see Store.changes).
   */
  get headTried(): Promise<unknown> {
    return this.#headTried
  }

  /** The seq of the last change this stream delivered, or undefined before the first. */
  get position(): number | undefined {
    return this.#delivered
  }

  [Symbol.asyncIterator](): this {
    return this
  }

  async next(): Promise<IteratorResult<E>> {
    try {
      this.#cursor ??= await this.#start
      for (;;) {
        if (this.#closed || this.#hub.closed) return this.#finish()
        const row = this.#buffer.shift()
        if (row !== undefined) {
          this.#delivered = row.seq
          return { done: false, value: toChange<E>(row) }
        }
        if (this.#readAt !== undefined) {
          // The last read reached the end of the log: nothing new until something commits after it.
          const seen = this.#readAt
          this.#readAt = undefined
          await new Promise<void>((resolve) => {
            const wake = (): void => {
              this.#wakers.delete(wake)
              resolve()
            }
            this.#wakers.add(wake)
            void this.#hub.waitPast(seen).then(wake)
          })
          continue
        }
        const seen = this.#hub.generation
        const cursor = this.#cursor
        const batch = await this.#retrying(() => this.#backend.readChanges(cursor, BATCH_SIZE, this.#options.filter))
        if (batch === undefined) continue // Closed while retrying.
        if (batch.trimmedThrough > this.#cursor) throw new ChangesTrimmedError(this.#cursor, batch.trimmedThrough, this.#options.consumer)
        this.#buffer = batch.changes
        this.#cursor = Math.max(this.#cursor, batch.scannedThrough)
        // A full batch may have more behind it: read again once it is delivered. Otherwise every
        // commit the read could not see comes after `seen` (it started after that generation),
        // so waiting for the next generation, not reading again, is enough.
        if (batch.changes.length < BATCH_SIZE) this.#readAt = seen
      }
    } catch (error) {
      if (this.#hub.closed) return this.#finish() // The store closed under a read in flight: just end.
      this.#finish()
      throw error
    }
  }

  async return(): Promise<IteratorResult<E>> {
    return this.#finish()
  }

  /** Stops the stream: a pending next() resolves done. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#hub.detach()
    this.#options.onClose?.()
    for (const wake of this.#wakers) wake()
  }

  /**
   * Runs `read` until it succeeds (resolving with its result), the stream closes (undefined) or it
   * fails for good (see isFinal). Between attempts: backoff, cut short by a wake-up of the hub (the
   * LISTEN connection back, a commit) but never below 10 ms.
   */
  async #retrying<R>(read: () => Promise<R>): Promise<R | undefined> {
    for (;;) {
      if (this.#closed || this.#hub.closed) return undefined
      const seen = this.#hub.generation
      try {
        const result = await read()
        this.#resumed()
        return result
      } catch (error) {
        if (this.#closed || this.#hub.closed) return undefined
        if (isFinal(error)) throw error
        const attempts = this.#interrupt(error)
        const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(attempts - 1, 10)) * (0.5 + Math.random() / 2)
        await this.#pause(Math.max(10, delay), seen)
      }
    }
  }

  /** Notes a failed read; the first of an outage is reported. Returns how many failed in a row. */
  #interrupt(error: unknown): number {
    if (this.#interrupted !== undefined) return ++this.#interrupted.attempts
    const interrupted = feedInterrupted(
      error,
      this.#delivered ?? (typeof this.#cursor === 'number' ? this.#cursor : undefined),
      this.#options.consumer,
    )
    this.#interrupted = { error: interrupted, since: Date.now(), attempts: 1 }
    this.#notify(() => this.#observer?.onInterrupted?.(interrupted))
    return 1
  }

  #resumed(): void {
    const was = this.#interrupted
    if (was === undefined) return
    this.#interrupted = undefined
    const info: FeedResume = { interruptedMs: Date.now() - was.since, attempts: was.attempts, position: this.#delivered ?? this.#cursor }
    this.#notify(() => this.#observer?.onResume?.(info))
  }

  /** An observer that throws must not stop the feed. */
  #notify(call: () => void): void {
    try {
      call()
    } catch (error) {
      queueMicrotask(() => {
        throw error
      })
    }
  }

  /** Waits `ms`, or less if the hub moves past `seen` (then at least 10 ms), or until closed. */
  async #pause(ms: number, seen: number): Promise<void> {
    await new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined
      const wake = (): void => {
        clearTimeout(timer)
        this.#wakers.delete(wake)
        resolve()
      }
      timer = setTimeout(wake, ms)
      this.#wakers.add(wake)
      void this.#hub.waitPast(seen).then(() => {
        if (!this.#wakers.has(wake)) return
        clearTimeout(timer)
        timer = setTimeout(wake, 10)
      })
    })
  }

  #finish(): IteratorResult<E> {
    this.close()
    return { done: true, value: undefined }
  }
}
