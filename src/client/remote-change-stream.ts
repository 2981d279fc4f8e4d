import type { IncomingMessage } from 'node:http'
import type { Change, FeedObserver } from '../changes/change.js'
import { TandemError } from '../errors.js'
import type { AnyData } from '../store/config.js'
import { remoteError, type RemoteErrorBody } from './remote-errors.js'

/** Opens the event stream again, continuing after `lastEventId` (undefined: as first asked). */
export type StreamOpener = (lastEventId: number | undefined) => Promise<{ response: IncomingMessage; abort: () => void }>

const RETRY_MIN_MS = 50
const RETRY_MAX_MS = 2000

/**
 * The change feed over Server-Sent Events, as an async iterator like the library's ChangeStream.
 * When the connection drops (the server restarted, say) it reconnects with Last-Event-ID, the
 * seq of the last change it delivered, reporting FEED_INTERRUPTED once and calling onResume when
 * it reads again: nothing lost, nothing repeated. An `error` event (CHANGES_TRIMMED...) ends it.
 */
export class RemoteChangeStream<T = AnyData> implements AsyncIterableIterator<Change<T>> {
  readonly #open: StreamOpener
  #observer: FeedObserver
  readonly #buffer: Change<T>[] = []
  /** Callers of next() waiting for a change (several when a hand-written loop calls next() twice). */
  readonly #waiters = new Set<() => void>()
  #abort: (() => void) | undefined
  #closed = false
  #failure: unknown
  /** Seq of the last change delivered (or received into the buffer), or the stream's start position. */
  #last: number | undefined
  #delivered: number | undefined
  readonly #started: Promise<number>
  #resolveStarted!: (position: number) => void
  #rejectStarted!: (error: unknown) => void
  readonly #onClose: (() => void) | undefined

  constructor(open: StreamOpener, observer: FeedObserver = {}, onClose?: () => void) {
    this.#open = open
    this.#observer = observer
    this.#onClose = onClose
    this.#started = new Promise<number>((resolve, reject) => {
      this.#resolveStarted = resolve
      this.#rejectStarted = reject
    })
    this.#started.catch(() => undefined)
    void this.#connect(false)
  }

  /** Settles with the position the stream continues after, once the server has fixed it (the `ready` event). */
  get started(): Promise<number> {
    return this.#started
  }

  /** The seq of the last change delivered, or undefined before the first. */
  get position(): number | undefined {
    return this.#delivered
  }

  observe(observer: FeedObserver): this {
    this.#observer = observer
    return this
  }

  [Symbol.asyncIterator](): this {
    return this
  }

  async next(): Promise<IteratorResult<Change<T>>> {
    for (;;) {
      const change = this.#buffer.shift()
      if (change !== undefined) {
        this.#delivered = change.seq
        return { done: false, value: change }
      }
      if (this.#failure !== undefined) {
        const failure = this.#failure
        this.#failure = undefined
        this.close()
        throw failure
      }
      if (this.#closed) return { done: true, value: undefined }
      await new Promise<void>((resolve) => this.#waiters.add(resolve))
    }
  }

  async return(): Promise<IteratorResult<Change<T>>> {
    this.close()
    return { done: true, value: undefined }
  }

  /** Stops the stream and its connection: a pending next() resolves done. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#abort?.()
    this.#rejectStarted(
      new TandemError('STORE_CLOSED', 'The change stream was closed before it started.', { hint: 'Keep it open until it starts.' }),
    )
    this.#onClose?.()
    this.#wakeAll()
  }

  #wakeAll(): void {
    const waiters = [...this.#waiters]
    this.#waiters.clear()
    for (const wake of waiters) wake()
  }

  #fail(error: unknown): void {
    this.#failure = error
    this.#rejectStarted(error)
    this.#wakeAll()
  }

  async #connect(retrying: boolean): Promise<void> {
    let attempts = 0
    const since = Date.now()
    let reported = retrying
    for (;;) {
      if (this.#closed) return
      try {
        const { response, abort } = await this.#open(this.#last)
        if (this.#closed) return abort()
        this.#abort = abort
        if (reported) this.#observer.onResume?.({ interruptedMs: Date.now() - since, attempts, position: this.#last })
        this.#read(response)
        return
      } catch (error) {
        // An answer from the server (401, 404, 409 CONSUMER_BUSY...) is final; a connection that failed is retried.
        if (!(error instanceof TandemError && error.code === 'SERVER_UNREACHABLE') || this.#last === undefined) return this.#fail(error)
        attempts++
        if (!reported) {
          reported = true
          this.#observer.onInterrupted?.(
            new TandemError('FEED_INTERRUPTED', `The change feed lost its server: ${error.message}. Retrying.`, {
              cause: error,
              hint: 'Nothing to do; it resumes by itself.',
            }),
          )
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(attempts, 6))))
      }
    }
  }

  #read(response: IncomingMessage): void {
    let text = ''
    response.setEncoding('utf8')
    response.on('data', (chunk: string) => {
      text += chunk
      let end: number
      while ((end = text.indexOf('\n\n')) >= 0) {
        const block = text.slice(0, end)
        text = text.slice(end + 2)
        this.#event(block)
      }
    })
    let gone = false
    const dropped = () => {
      if (gone || this.#closed || this.#failure !== undefined) return
      gone = true
      this.#abort = undefined
      if (this.#last === undefined)
        return this.#fail(new TandemError('SERVER_UNREACHABLE', 'The change feed ended before it started.', { hint: 'Check the server.' }))
      this.#observer.onInterrupted?.(
        new TandemError('FEED_INTERRUPTED', 'The change feed lost its server. Retrying.', { hint: 'Nothing to do; it resumes by itself.' }),
      )
      void this.#connect(true)
    }
    response.on('end', dropped)
    response.on('error', () => undefined)
    response.on('close', dropped)
  }

  #event(block: string): void {
    let event = 'message'
    let data = ''
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue
      const colon = line.indexOf(':')
      const field = colon < 0 ? line : line.slice(0, colon)
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
      if (field === 'event') event = value
      else if (field === 'data') data += data === '' ? value : `\n${value}`
    }
    if (event === 'ready') {
      const { position } = JSON.parse(data) as { position: number }
      this.#last ??= position
      this.#resolveStarted(position)
    } else if (event === 'change') {
      const change = JSON.parse(data) as Change<T>
      // After a reconnection a consumer's stream starts again at its last ack: what was received is not repeated.
      if (this.#last !== undefined && change.seq <= this.#last) return
      this.#last = change.seq
      this.#buffer.push(change)
      this.#wakeAll()
    } else if (event === 'error') {
      const body = JSON.parse(data) as { error?: RemoteErrorBody }
      this.#fail(remoteError(body.error, 0))
      this.#abort?.()
    }
  }
}
