import { AsyncLocalStorage } from 'node:async_hooks'
import type { ChangeStart, ChangesOptions } from '../changes/change.js'
import type { ConsumerOptions } from '../changes/consumer.js'
import { TandemError, storeClosed } from '../errors.js'
import { checkCollectionFilter, type AnyData, type CollectionsConfig, type DataOf, type InputOf } from '../store/config.js'
import type { StoreDescription } from '../store/describe.js'
import { HttpTransport } from './http-transport.js'
import { RemoteChangeStream } from './remote-change-stream.js'
import { RemoteCollection, type RemoteHost } from './remote-collection.js'
import { RemoteConsumer } from './remote-consumer.js'

/** The typed remote collection for name K of config C. */
export type RemoteCollectionOf<C extends CollectionsConfig, K extends keyof C> = RemoteCollection<DataOf<C[K]>, InputOf<C[K]>>

export interface RemoteStoreOptions {
  /** A token from `tandem token create`: every request acts as its role. */
  token: string
}

const TX_HEADER = 'tandem-transaction'

/** As the local store: an undeclared collection is refused at once, naming the declared ones. */
function checkCollection(name: string, declared: readonly string[]): void {
  if (!declared.includes(name))
    throw new TandemError('UNKNOWN_COLLECTION', `Collection "${name}" is not declared. Declared: ${declared.join(', ') || '(none)'}.`, {
      collection: name,
      hint: `Add "${name}" to the collections of the served store's definition, with its writers.`,
    })
}

/** A transaction of a remote store (see RemoteStore.transaction). */
export class RemoteTransaction<C extends CollectionsConfig = CollectionsConfig> {
  readonly #store: RemoteStore<C>
  readonly id: string

  constructor(store: RemoteStore<C>, id: string) {
    this.#store = store
    this.id = id
  }

  collection<K extends keyof C & string>(name: K): RemoteCollectionOf<C, K> {
    checkCollection(name, this.#store.collections)
    return new RemoteCollection(name, this.#store.hostIn(this.id)) as RemoteCollectionOf<C, K>
  }

  /** A nested transaction (a savepoint): if `fn` throws, only its own writes are undone. */
  transaction<T>(fn: (tx: RemoteTransaction<C>) => Promise<T>): Promise<T> {
    return this.#store.runTransaction(this.id, fn)
  }
}

/**
 * A store served by `tandem serve`, with the Store API: collections, transactions, the change feed
 * and durable consumers, over HTTP. Every request acts as the token's role, and the server's
 * store checks ownership, schemas and versions. Open with openRemoteStore().
 */
export class RemoteStore<C extends CollectionsConfig = CollectionsConfig> {
  readonly #http: HttpTransport
  readonly role: string
  /** The collections the server's definition declares. */
  readonly collections: readonly string[]
  readonly #tx = new AsyncLocalStorage<string>()
  /** Per transaction id, the last request sent in it: requests of one transaction go one at a time, in order. */
  readonly #txTails = new Map<string, Promise<unknown>>()
  /** Change streams since 'now' whose position the server has not fixed yet: writes wait for them (as a local store's do). */
  readonly #starting = new Set<Promise<unknown>>()
  readonly #streams = new Set<{ close(): void }>()
  #closed = false
  readonly #host: RemoteHost

  /** @internal use openRemoteStore() */
  constructor(http: HttpTransport, role: string, collections: readonly string[]) {
    this.#http = http
    this.role = role
    this.collections = collections
    this.#host = this.hostIn(undefined)
  }

  /** @internal The requests of collections: in transaction `txId`, else in the caller's current one (if any). */
  hostIn(txId: string | undefined): RemoteHost {
    return {
      request: (method, path, body, write) => this.#request(method, path, body, write === true, txId ?? this.#tx.getStore()),
      changes: (options) => this.changes(options),
      transaction: (fn) => this.runTransaction(txId ?? this.#tx.getStore(), (tx) => fn(this.hostIn(tx.id))),
    }
  }

  /** Requests sent and not answered yet: close() lets them finish. */
  readonly #inFlight = new Set<Promise<unknown>>()

  #request(method: string, path: string, body: unknown, write: boolean, txId: string | undefined): Promise<unknown> {
    if (this.#closed) return Promise.reject(storeClosed())
    const sent = this.#send(method, path, body, write, txId)
    this.#inFlight.add(sent)
    const done = () => void this.#inFlight.delete(sent)
    sent.then(done, done)
    return sent
  }

  async #send(method: string, path: string, body: unknown, write: boolean, txId: string | undefined): Promise<unknown> {
    if (write && this.#starting.size > 0) await Promise.all(this.#starting)
    if (txId === undefined) return this.#http.send(method, path, body)
    const previous = this.#txTails.get(txId) ?? Promise.resolve()
    const mine = previous.catch(() => undefined).then(() => this.#http.send(method, path, body, { [TX_HEADER]: txId }))
    this.#txTails.set(txId, mine)
    return mine
  }

  collection<K extends keyof C & string>(name: K): RemoteCollectionOf<C, K> {
    checkCollection(name, this.collections)
    return new RemoteCollection(name, this.#host) as RemoteCollectionOf<C, K>
  }

  /**
   * Runs `fn` in one transaction on the server: every write made in it (through `tx`, or through
   * this store's collections while `fn` runs) commits when it resolves, none if it throws. Inside
   * another transaction it is a nested one (a savepoint). It holds the server store's write lock
   * until it ends, and the server rolls it back after 10 s without a request.
   */
  transaction<T>(fn: (tx: RemoteTransaction<C>) => Promise<T>): Promise<T> {
    if (typeof fn !== 'function') throw new TypeError(`transaction takes an async function (tx) => ... (got ${typeof fn}).`)
    return this.runTransaction(this.#tx.getStore(), fn)
  }

  /** @internal Opens a transaction (nested in `parent` when given), runs `fn`, commits or rolls back. */
  async runTransaction<T>(parent: string | undefined, fn: (tx: RemoteTransaction<C>) => Promise<T>): Promise<T> {
    const { id } = (await this.#request('POST', '/v1/transactions', undefined, true, parent)) as { id: string }
    let result: T
    try {
      result = await this.#tx.run(id, () => fn(new RemoteTransaction(this, id)))
    } catch (error) {
      await this.#finish(id, 'rollback').catch(() => undefined)
      throw error
    }
    await this.#finish(id, 'commit')
    return result
  }

  async #finish(id: string, how: 'commit' | 'rollback'): Promise<void> {
    // After the transaction's last request; then its queue is gone.
    await (this.#txTails.get(id) ?? Promise.resolve()).catch(() => undefined)
    this.#txTails.delete(id)
    await this.#http.send('POST', `/v1/transactions/${encodeURIComponent(id)}/${how}`)
  }

  /**
   * Every committed change of the store, in seq order, each once, as an async iterator over
   * Server-Sent Events; it reconnects by itself with Last-Event-ID when the connection drops.
   */
  changes<T = AnyData>(options: ChangesOptions = {}): RemoteChangeStream<T> {
    if (this.#closed) throw storeClosed()
    const since: ChangeStart = options.since ?? 'now'
    if (since !== 'now' && since !== 'beginning' && !(Number.isInteger(since) && since >= 0))
      throw new RangeError(`since must be 'now', 'beginning' or a change seq (got ${JSON.stringify(since)}).`)
    checkCollectionFilter(options)
    const query = new URLSearchParams({ since: String(since) })
    if (options.collections !== undefined) query.set('collections', options.collections.join(','))
    if (options.ids !== undefined) query.set('ids', options.ids.join(','))
    const entry = { close: () => stream.close() }
    const stream: RemoteChangeStream<T> = new RemoteChangeStream<T>(
      (last) => this.#http.stream(`/v1/changes?${query}`, last === undefined ? {} : { 'last-event-id': String(last) }),
      { onInterrupted: options.onInterrupted, onResume: options.onResume },
      () => this.#streams.delete(entry),
    )
    this.#streams.add(entry)
    if (since === 'now') {
      const started = stream.started.catch(() => undefined)
      this.#starting.add(started)
      void started.then(() => this.#starting.delete(started))
    }
    return stream
  }

  /** A durable consumer read through the server (its position is kept in the store; see Store.consumer). */
  consumer(name: string, options: ConsumerOptions = {}): RemoteConsumer {
    if (this.#closed) throw storeClosed()
    checkCollectionFilter(options)
    return new RemoteConsumer(this.#http, this.#host, name, options, (stream) => {
      const entry = { close: () => stream.close() }
      this.#streams.add(entry)
      return () => this.#streams.delete(entry)
    })
  }

  /** Applies every retention limit now (store.compact() on the server). */
  async compact(): Promise<{ trimmed: Record<string, number>; changesTrimmed: number }> {
    return (await this.#request('POST', '/v1/compact', undefined, true, undefined)) as {
      trimmed: Record<string, number>
      changesTrimmed: number
    }
  }

  /** Applies change-log retention now; resolves with the number of changes dropped. */
  async trimChanges(): Promise<number> {
    const { trimmed } = (await this.#request('POST', '/v1/changes/trim', undefined, true, undefined)) as { trimmed: number }
    return trimmed
  }

  /** What is in the store and who uses it (store.describe() on the server). */
  async describe(): Promise<StoreDescription> {
    const { store } = (await this.#request('GET', '/v1/status', undefined, false, undefined)) as { store: StoreDescription }
    return store
  }

  /** Ends the change streams, lets requests already sent finish, closes the connections. Later calls fail with STORE_CLOSED. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const s of [...this.#streams]) s.close()
    await Promise.allSettled([...this.#inFlight])
    this.#http.close()
  }
}

/**
 * Opens a store served by `tandem serve` at `url` (`http://host:port` or `unix:/path/to.sock`),
 * acting as the role of `token`. Resolves once the server has accepted the token; rejects with
 * UNAUTHORIZED or SERVER_UNREACHABLE otherwise.
 *
 * @example
 * const store = await openRemoteStore<typeof definition.collections>('http://127.0.0.1:7070', { token })
 * await store.collection('sessions').insert({ projectId: 'p1', startedAt: Date.now() })
 */
export async function openRemoteStore<C extends CollectionsConfig = CollectionsConfig>(
  url: string,
  options: RemoteStoreOptions,
): Promise<RemoteStore<C>> {
  if (typeof options?.token !== 'string' || options.token === '')
    throw new TypeError('openRemoteStore needs { token }: create one with "tandem token create --role ROLE".')
  const http = new HttpTransport(url, options.token)
  try {
    const { role, collections } = (await http.send('GET', '/v1/status')) as { role: string; collections: string[] }
    return new RemoteStore<C>(http, role, collections)
  } catch (error) {
    http.close()
    throw error
  }
}
