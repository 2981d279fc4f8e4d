import type { ConsumerOptions } from '../changes/consumer.js'
import { TandemError } from '../errors.js'
import type { HttpTransport } from './http-transport.js'
import { RemoteChangeStream } from './remote-change-stream.js'
import type { RemoteHost } from './remote-collection.js'

const NAME = /^[A-Za-z0-9_.:-]{1,128}$/

/**
 * A durable consumer read through the server: `changes()` takes its lease (as long as the stream
 * is open) and streams what came after its last ack; `ack(seq)` records progress in the store.
 */
export class RemoteConsumer {
  readonly name: string
  readonly #http: HttpTransport
  readonly #host: RemoteHost
  readonly #options: ConsumerOptions
  readonly #track: (stream: RemoteChangeStream) => () => void
  #stream: RemoteChangeStream | undefined
  #position: number | undefined

  constructor(
    http: HttpTransport,
    host: RemoteHost,
    name: string,
    options: ConsumerOptions,
    track: (stream: RemoteChangeStream) => () => void,
  ) {
    if (typeof name !== 'string' || !NAME.test(name))
      throw new TypeError(`A consumer name must be 1 to 128 letters, digits or _ . : - (got ${JSON.stringify(name)}).`)
    if (options.start !== undefined && options.start !== 'now' && options.start !== 'beginning')
      throw new RangeError(`start must be 'now' or 'beginning' (got ${JSON.stringify(options.start)}).`)
    this.name = name
    this.#http = http
    this.#host = host
    this.#options = options
    this.#track = track
  }

  /** The last acknowledged seq (undefined until the consumer has started). */
  get position(): number | undefined {
    return this.#position
  }

  /** Takes the lease and returns the changes after the last ack; CONSUMER_BUSY if another holder is alive (unless `wait`). */
  async changes(): Promise<RemoteChangeStream> {
    if (this.#stream !== undefined) throw new TypeError(`Consumer "${this.name}" is already reading; close its stream first.`)
    const query = new URLSearchParams({ start: this.#options.start ?? 'now' })
    if (this.#options.collections !== undefined) query.set('collections', this.#options.collections.join(','))
    if (this.#options.ids !== undefined) query.set('ids', this.#options.ids.join(','))
    for (;;) {
      let untrack = () => {}
      const stream: RemoteChangeStream = new RemoteChangeStream(
        () => this.#http.stream(`/v1/consumers/${encodeURIComponent(this.name)}/changes?${query}`, {}),
        { onInterrupted: this.#options.onInterrupted, onResume: this.#options.onResume },
        () => {
          untrack()
          if (this.#stream === stream) this.#stream = undefined
        },
      )
      untrack = this.#track(stream)
      try {
        this.#position = await stream.started
        this.#stream = stream
        return stream
      } catch (error) {
        stream.close()
        if (!(this.#options.wait === true && error instanceof TandemError && error.code === 'CONSUMER_BUSY')) throw error
        await new Promise((resolve) => setTimeout(resolve, Math.max(50, Math.floor((this.#options.leaseMs ?? 10_000) / 10))))
      }
    }
  }

  /** Records that every change up to `seq` is processed (CONSUMER_LOST if another holder took the consumer). */
  async ack(seq: number): Promise<void> {
    if (!Number.isInteger(seq) || seq < 0) throw new RangeError(`ack takes a change seq, a non-negative integer (got ${String(seq)}).`)
    // Through the store: inside a transaction the ack joins it (committed with the handler's writes, or not at all).
    await this.#host.request('POST', `/v1/consumers/${encodeURIComponent(this.name)}/ack`, { seq }, true)
    this.#position = Math.max(this.#position ?? 0, seq)
  }

  /** Stops reading; the server hands the lease back (the position stays). */
  async close(): Promise<void> {
    this.#stream?.close()
  }
}
