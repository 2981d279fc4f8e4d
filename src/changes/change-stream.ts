import type { Backend, ChangeFilter, ChangeRow } from '../backends/backend.js'
import { ChangesTrimmedError } from '../errors.js'
import { toChange, type Change, type ChangeStart } from './change.js'
import type { ChangeHub } from './change-hub.js'
import type { AnyData } from '../store/config.js'

/** How many changes one read of the log fetches. */
const BATCH_SIZE = 500

export interface ChangeStreamOptions {
  filter: ChangeFilter | undefined
  since: ChangeStart
  /** Named in ChangesTrimmedError when a durable consumer falls behind. */
  consumer?: string
  onClose?: () => void
}

/**
 * Changes in seq order, each once, read from the change log (the source of truth) whenever the
 * hub says something committed. Pull-based: nothing is read ahead of the reader beyond one batch,
 * so a slow reader holds no growing buffer. Ends (done) when closed or when the store closes;
 * throws ChangesTrimmedError rather than skip changes retention has dropped.
 */
export class ChangeStream<T = AnyData> implements AsyncIterableIterator<Change<T>> {
  readonly #backend: Backend
  readonly #hub: ChangeHub
  readonly #options: ChangeStreamOptions
  /** Resolved at creation: 'now' means the log's end when changes() was called, not when first read. */
  readonly #start: Promise<number>
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

  constructor(backend: Backend, hub: ChangeHub, options: ChangeStreamOptions) {
    this.#backend = backend
    this.#hub = hub
    this.#options = options
    const { since } = options
    this.#start = since === 'now' ? backend.changeHead() : Promise.resolve(since === 'beginning' ? 0 : since)
    this.#start.catch(() => undefined) // Surfaced by next(); never an unhandled rejection.
    hub.attach()
  }

  /** Settles once the stream's starting point is fixed (for 'now': the log's head has been read). */
  get started(): Promise<unknown> {
    return this.#start
  }

  /** The seq of the last change this stream delivered, or undefined before the first. */
  get position(): number | undefined {
    return this.#delivered
  }

  [Symbol.asyncIterator](): this {
    return this
  }

  async next(): Promise<IteratorResult<Change<T>>> {
    try {
      this.#cursor ??= await this.#start
      for (;;) {
        if (this.#closed || this.#hub.closed) return this.#finish()
        const row = this.#buffer.shift()
        if (row !== undefined) {
          this.#delivered = row.seq
          return { done: false, value: toChange<T>(row) }
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
        const batch = await this.#backend.readChanges(this.#cursor, BATCH_SIZE, this.#options.filter)
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

  async return(): Promise<IteratorResult<Change<T>>> {
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

  #finish(): IteratorResult<Change<T>> {
    this.close()
    return { done: true, value: undefined }
  }
}
