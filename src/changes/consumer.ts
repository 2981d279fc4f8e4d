import { hostname } from 'node:os'
import { randomUUID } from 'node:crypto'
import type { JsonObject, ReadTx, RecordRow, WriteTx } from '../backends/backend.js'
import { TandemError } from '../errors.js'
import { isPidAlive } from '../registry/process-registry.js'
import type { ChangeFilter } from '../backends/backend.js'
import type { ChangeStream } from './change-stream.js'
import type { AnyChange, Change, ChangeStart, FeedObserver } from './change.js'

/** The internal collection holding consumer positions and leases. Not in the change log. */
export const CONSUMERS_COLLECTION = '_consumers'
export const DEFAULT_LEASE_MS = 10_000
const NAME = /^[A-Za-z0-9_.:-]{1,128}$/

export interface ConsumerOptions<K extends string = string> extends FeedObserver {
  /** Where a consumer that has never run starts. Default 'now'. */
  start?: 'now' | 'beginning'
  /** Only changes of these collections (default: the store's declared collections, as for changes()) / ids. */
  collections?: readonly K[]
  ids?: readonly string[]
  /** If another process runs this consumer: wait for it to stop (true) or fail with CONSUMER_BUSY (false, default). */
  wait?: boolean
  /** A holder that stops renewing for this long is presumed dead. Default 10000. */
  leaseMs?: number
}

interface Holder {
  token: string
  pid: number
  host: string
  heartbeatAt: number
}

interface ConsumerState {
  position: number
  holder: Holder | null
  /** The collections and ids this consumer reads (null: every change), recorded each time it starts, so `describe()` can count what it has not seen. */
  filter?: ChangeFilter | null
}

/** What a Consumer needs from its store. */
export interface ConsumerHost {
  readonly role: string
  write<T>(work: (tx: WriteTx) => Promise<T>): Promise<T>
  read<T>(work: (tx: ReadTx) => Promise<T>): Promise<T>
  changeHead(): Promise<number>
  stream(filter: ChangeFilter | undefined, since: ChangeStart, consumer: string, onClose: () => void): ChangeStream<AnyChange>
}

function isAlive(holder: Holder, leaseMs: number, now: number): boolean {
  if (now - holder.heartbeatAt > leaseMs) return false
  return holder.host !== hostname() || isPidAlive(holder.pid)
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * A durable, named reader of the change feed. Its position lives in the store, so it resumes
 * after a restart or a crash from its last `ack`: at-least-once delivery. Acking inside
 * `store.transaction()` commits the position together with the handler's own writes: an
 * exactly-once effect. Only one process runs a consumer at a time: it holds a lease, renewed in
 * the background, and a holder that died (its pid is gone on this host, or it stopped renewing) is
 * taken over. `E` is the changes it delivers (typed by collection, like store.changes()).
 */
export class Consumer<E extends AnyChange = Change> {
  readonly name: string
  readonly #host: ConsumerHost
  readonly #options: Required<Pick<ConsumerOptions, 'start' | 'wait' | 'leaseMs'>> & ConsumerOptions
  readonly #token = randomUUID()
  #position: number | undefined
  #stream: ChangeStream<E> | undefined
  #heartbeat: NodeJS.Timeout | undefined
  #lost: TandemError | undefined

  /** @internal use store.consumer(name) */
  constructor(host: ConsumerHost, name: string, options: ConsumerOptions = {}) {
    if (typeof name !== 'string' || !NAME.test(name))
      throw new TypeError(`A consumer name must be 1 to 128 letters, digits or _ . : - (got ${JSON.stringify(name)}).`)
    const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS
    if (!Number.isInteger(leaseMs) || leaseMs < 100)
      throw new RangeError(`leaseMs must be an integer of at least 100 (got ${String(leaseMs)}).`)
    if (options.start !== undefined && options.start !== 'now' && options.start !== 'beginning')
      throw new RangeError(`start must be 'now' or 'beginning' (got ${JSON.stringify(options.start)}).`)
    this.name = name
    this.#host = host
    this.#options = { ...options, start: options.start ?? 'now', wait: options.wait ?? false, leaseMs }
  }

  /** The last acknowledged seq (undefined until the consumer has started or been read). */
  get position(): number | undefined {
    return this.#position
  }

  /**
   * Takes the lease and returns the changes after the stored position. Rejects with CONSUMER_BUSY
   * when another live process holds it (unless `wait`). Closing the stream releases the lease.
   */
  async changes(): Promise<ChangeStream<E>> {
    if (this.#stream !== undefined) throw new TypeError(`Consumer "${this.name}" is already reading; close its stream first.`)
    const position = await this.#acquire()
    this.#position = position
    this.#lost = undefined
    // The stream survives outages (retrying from its position); the observer hears about them.
    this.#stream = this.#host
      .stream(this.#filter() ?? undefined, position, this.name, () => void this.#release())
      .observe({ onInterrupted: this.#options.onInterrupted, onResume: this.#options.onResume }) as ChangeStream<E>
    this.#heartbeat = setInterval(() => void this.#renew(), Math.floor(this.#options.leaseMs / 3))
    this.#heartbeat.unref()
    return this.#stream
  }

  /**
   * Records that every change up to `seq` is processed. Inside `store.transaction()` it commits
   * with the transaction. Also works after the loop was left (the lease handed back) as long as
   * no other process took the consumer meanwhile; rejects with CONSUMER_LOST if one did.
   */
  async ack(seq: number): Promise<void> {
    if (!Number.isInteger(seq) || seq < 0) throw new RangeError(`ack takes a change seq, a non-negative integer (got ${String(seq)}).`)
    if (this.#lost !== undefined) throw this.#lost
    await this.#host.write(async (tx) => {
      const { row, state } = await this.#load(tx)
      const mine = state.holder?.token === this.#token
      // After `break` the lease is handed back (holder null): acking the last change is still ours to do.
      const released = state.holder === null && this.#stream === undefined && this.#position !== undefined
      if (row === undefined || !(mine || released)) throw this.#lostError(state.holder)
      if (seq <= state.position) return
      const holder = state.holder === null ? null : { ...state.holder, heartbeatAt: Date.now() }
      await this.#save(tx, row, { ...state, position: seq, holder })
    })
    this.#position = Math.max(this.#position ?? 0, seq)
  }

  /** Stops reading and releases the lease (the position stays). */
  async close(): Promise<void> {
    this.#stream?.close()
    await this.#release()
  }

  async #acquire(): Promise<number> {
    for (;;) {
      const head = this.#options.start === 'now' ? await this.#host.changeHead() : 0
      const result = await this.#host.write(async (tx): Promise<{ position: number } | { busy: Holder }> => {
        const now = Date.now()
        const { row, state } = await this.#load(tx)
        const me: Holder = { token: this.#token, pid: process.pid, host: hostname(), heartbeatAt: now }
        if (row === undefined) {
          const position = head
          await tx.insert(CONSUMERS_COLLECTION, {
            id: this.name,
            version: 1,
            createdAt: now,
            updatedAt: now,
            role: this.#host.role,
            data: { position, holder: me, filter: this.#filter() } as unknown as JsonObject,
          })
          return { position }
        }
        if (state.holder !== null && state.holder.token !== this.#token && isAlive(state.holder, this.#options.leaseMs, now))
          return { busy: state.holder }
        await this.#save(tx, row, { ...state, holder: me, filter: this.#filter() })
        return { position: state.position }
      })
      if ('position' in result) return result.position
      if (!this.#options.wait) {
        const h = result.busy
        throw new TandemError(
          'CONSUMER_BUSY',
          `Consumer "${this.name}" is running in pid ${h.pid} on ${h.host}; two processes may not run one consumer at once. Stop that process, or pass { wait: true } to take over when it stops.`,
          {
            hint: 'Run one process per consumer name, or open the consumer with { wait: true }.',
          },
        )
      }
      await sleep(Math.max(50, Math.floor(this.#options.leaseMs / 10)))
    }
  }

  /** The filter as stored: only the keys given, arrays copied (JSON has no undefined); null for every change. */
  #filter(): ChangeFilter | null {
    const { collections, ids } = this.#options
    if (collections === undefined && ids === undefined) return null
    return { ...(collections === undefined ? {} : { collections: [...collections] }), ...(ids === undefined ? {} : { ids: [...ids] }) }
  }

  async #renew(): Promise<void> {
    try {
      await this.#host.write(async (tx) => {
        const { row, state } = await this.#load(tx)
        if (row === undefined || state.holder?.token !== this.#token) throw this.#lostError(state.holder)
        await this.#save(tx, row, { ...state, holder: { ...state.holder, heartbeatAt: Date.now() } })
      })
    } catch (error) {
      if (error instanceof TandemError && error.code === 'CONSUMER_LOST') {
        this.#lost = error
        this.#stream?.close()
      }
    }
  }

  async #release(): Promise<void> {
    clearInterval(this.#heartbeat)
    this.#heartbeat = undefined
    this.#stream = undefined
    try {
      await this.#host.write(async (tx) => {
        const { row, state } = await this.#load(tx)
        if (row !== undefined && state.holder?.token === this.#token) await this.#save(tx, row, { ...state, holder: null })
      })
    } catch {
      // The store is closing or gone: the lease simply expires.
    }
  }

  async #load(tx: ReadTx): Promise<{ row: RecordRow | undefined; state: ConsumerState }> {
    const row = await tx.get(CONSUMERS_COLLECTION, this.name)
    return { row, state: (row?.data as unknown as ConsumerState | undefined) ?? { position: 0, holder: null } }
  }

  async #save(tx: WriteTx, row: RecordRow, state: ConsumerState): Promise<void> {
    await tx.update(CONSUMERS_COLLECTION, {
      ...row,
      version: row.version + 1,
      updatedAt: Date.now(),
      role: this.#host.role,
      data: state as unknown as JsonObject,
    })
  }

  #lostError(holder: Holder | null): TandemError {
    const now = holder === null ? 'nobody holds it now' : `pid ${holder.pid} on ${holder.host} holds it now`
    return new TandemError(
      'CONSUMER_LOST',
      `Consumer "${this.name}" lost its lease (${now}): it stopped renewing for longer than leaseMs. Nothing was acknowledged; open it again to resume from the last ack.`,
      {
        hint: 'Keep the event loop free enough to renew the lease, or raise leaseMs.',
      },
    )
  }
}
