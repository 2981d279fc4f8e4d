import type { Backend, ReadTx, WriteTx } from '../backends/backend.js'
import { SqliteBackend } from '../backends/sqlite/sqlite-backend.js'
import { DEFAULT_JOURNAL_SIZE_LIMIT_BYTES, DEFAULT_WAL_CHECKPOINT_BYTES } from '../backends/sqlite/sqlite-config.js'
import { TandemError, storeClosed } from '../errors.js'
import { resolveStorePath, restrictFileMode } from '../fs/safe-path.js'
import { Collection, type Runner } from './collection.js'
import { parseStoreConfig, type AnyData, type CollectionsConfig, type DataOf, type InputOf, type StoreConfig, type StoreSettings } from './config.js'
import { TxScope } from './tx-scope.js'
import { WriteQueue, type WriteJob } from './write-queue.js'
import { ChangeHub } from '../changes/change-hub.js'
import { ChangeStream } from '../changes/change-stream.js'
import type { ChangesOptions } from '../changes/change.js'
import { CONSUMERS_COLLECTION, Consumer, type ConsumerOptions } from '../changes/consumer.js'
import { checkCollectionFilter } from './config.js'

/** Committed writes between two passes of change-log retention. */
const TRIM_EVERY_WRITES = 1000

/** The typed collection for name K of config C. */
export type CollectionOf<C extends CollectionsConfig, K extends keyof C> = Collection<DataOf<C[K]>, InputOf<C[K]>>

function unknownCollection(name: string, known: Iterable<string>): TandemError {
  return new TandemError('UNKNOWN_COLLECTION', `Collection "${name}" is not declared. Declared: ${[...known].join(', ') || '(none)'}.`, {
    collection: name,
    hint: `Add "${name}" to the collections given to openStore, with its writers.`,
  })
}

/**
 * A handle on an open transaction, passed to the `store.transaction()` callback. Everything done
 * through it commits together when the callback resolves, or not at all if it throws.
 */
export class Transaction<C extends CollectionsConfig = CollectionsConfig> {
  readonly #store: Store<C>
  readonly #scope: TxScope

  constructor(store: Store<C>, scope: TxScope) {
    this.#store = store
    this.#scope = scope
  }

  collection<K extends keyof C & string>(name: K): CollectionOf<C, K> {
    const settings = this.#store.settings.collections.get(name)
    if (settings === undefined) throw unknownCollection(name, this.#store.settings.collections.keys())
    return new Collection(settings, this.#runner())
  }

  /** A nested transaction (a savepoint): if `fn` throws, only its own writes are undone. */
  transaction<T>(fn: (tx: Transaction<C>) => Promise<T>): Promise<T> {
    return this.#live().run((tx) => this.#store.runInScope(tx, fn, true))
  }

  #live(): TxScope {
    if (!this.#scope.active) throw this.#scope.ended()
    // Inside a nested transaction, calls made through an outer handle run in the innermost one.
    const current = TxScope.current(this.#store)
    return current !== undefined && current.tx === this.#scope.tx ? current : this.#scope
  }

  #runner(): Runner {
    return {
      role: this.#store.role,
      operation: (op) => op(),
      write: (job) => this.#live().run(job.work),
      read: (work) => this.#live().run(work),
      callback: async (_tx, body) => body(),
      changes: (options) => this.#store.changes(options),
    }
  }
}

/**
 * An open store: the collections this process declared, on one shared database. Safe to use from
 * many async callers at once; create one per process and close it at shutdown.
 */
export class Store<C extends CollectionsConfig = CollectionsConfig> {
  /** @internal */
  readonly settings: StoreSettings
  readonly #backend: Backend
  readonly #queue: WriteQueue
  readonly #collections = new Map<string, Collection>()
  readonly #runner: Runner
  #closed: Promise<void> | undefined
  /** Public operations started and not yet settled; close() waits for them. */
  #operations = 0
  #noOperations: (() => void) | undefined
  readonly #hub: ChangeHub
  readonly #consumers = new Set<Consumer>()
  #writesSinceTrim = 0

  /** @internal use openStore() */
  constructor(settings: StoreSettings, backend: Backend) {
    this.settings = settings
    this.#backend = backend
    this.#hub = new ChangeHub(backend)
    this.#queue = new WriteQueue(backend, settings.busyTimeoutMs, (writes) => this.#committed(writes))
    this.#runner = {
      role: settings.role,
      operation: (op) => this.#operation(op),
      write: (job) => this.#write(job),
      read: (work) => this.#read(work),
      callback: (tx, body) => (TxScope.current(this) === undefined ? this.#inScope(tx, body) : Promise.resolve(body())),
      changes: (options) => this.changes(options),
    }
  }

  /** This process's role. */
  get role(): string {
    return this.settings.role
  }

  /** The engine behind the store: 'sqlite', 'postgres' or 'files'. */
  get kind(): Backend['kind'] {
    return this.#backend.kind
  }

  /** The backend, for tools that need engine details (status, benchmarks). */
  get backend(): Backend {
    return this.#backend
  }

  collection<K extends keyof C & string>(name: K): CollectionOf<C, K> {
    let collection = this.#collections.get(name)
    if (collection === undefined) {
      const settings = this.settings.collections.get(name)
      if (settings === undefined) throw unknownCollection(name, this.settings.collections.keys())
      collection = new Collection(settings, this.#runner)
      this.#collections.set(name, collection)
    }
    return collection as unknown as CollectionOf<C, K>
  }

  /**
   * Runs `fn` in one transaction across collections: every write in it commits together when
   * `fn` resolves, or none does if it throws. Concurrent transactions of this process queue up
   * (they never interleave); other processes wait for the commit. Called inside another
   * transaction it becomes a nested one (a savepoint).
   *
   * @example
   * await store.transaction(async (tx) => {
   *   const p = await tx.collection('projects').insert({ name: 'tandem' })
   *   await tx.collection('events').insert({ projectId: p.id, kind: 'created' })
   * })
   */
  transaction<T>(fn: (tx: Transaction<C>) => Promise<T>): Promise<T> {
    if (typeof fn !== 'function') throw new TypeError(`transaction takes an async function (tx) => ... (got ${typeof fn}).`)
    const scope = TxScope.current(this)
    if (scope !== undefined) return scope.run((tx) => this.runInScope(tx, fn, true))
    return this.#operation(() => this.#write({ atomic: false, work: (tx) => this.runInScope(tx, fn, false) }))
  }

  /** @internal Runs a transaction callback in a fresh scope, inside a savepoint when nested. */
  runInScope<T>(tx: WriteTx, fn: (tx: Transaction<C>) => Promise<T>, nested: boolean): Promise<T> {
    const body = () => this.#inScope(tx, (scope) => fn(new Transaction(this, scope)))
    return nested ? tx.savepoint(body) : body()
  }

  /** Runs user code with `tx` as the current transaction of this store, until it and every call it started are done. */
  async #inScope<T>(tx: WriteTx, body: (scope: TxScope) => T | Promise<T>): Promise<T> {
    const scope = new TxScope(this, tx)
    try {
      return await scope.enter(async () => {
        const result = await body(scope)
        // Calls the callback started but did not await still belong to this transaction.
        await scope.settled()
        return result
      })
    } finally {
      scope.active = false
    }
  }

  /**
   * Every committed change of the store (any process), in seq order, each once, as an async
   * iterator: `for await (const c of store.changes({ collections: ['jobs'] }))`. `since` is 'now'
   * (default: changes committed after this call), 'beginning', or a seq to continue after. Ends
   * when you break out, call `close()`, or close the store. Throws ChangesTrimmedError instead of
   * silently skipping changes retention already dropped.
   */
  changes<T = AnyData>(options: ChangesOptions = {}): ChangeStream<T> {
    if (this.#closed !== undefined) throw storeClosed()
    const since = options.since ?? 'now'
    if (since !== 'now' && since !== 'beginning' && !(Number.isInteger(since) && since >= 0)) {
      throw new RangeError(`since must be 'now', 'beginning' or a change seq (got ${JSON.stringify(since)}).`)
    }
    const filter = checkCollectionFilter(options)
    return new ChangeStream<T>(this.#backend, this.#hub, { filter, since })
  }

  /**
   * A durable, named change-feed consumer: its position is stored in the store, so it resumes
   * after a restart from its last `ack` (at-least-once; ack inside `store.transaction()` for an
   * exactly-once effect). One process at a time runs a given consumer.
   *
   * @example
   * const mailer = store.consumer('mailer', { collections: ['notifications'] })
   * for await (const c of await mailer.changes()) { await send(c); await mailer.ack(c.seq) }
   */
  consumer(name: string, options: ConsumerOptions = {}): Consumer {
    if (this.#closed !== undefined) throw storeClosed()
    checkCollectionFilter(options)
    const consumer = new Consumer(
      {
        role: this.role,
        write: (work) => this.#write({ atomic: false, work }),
        read: (work) => this.#read(work),
        changeHead: () => this.#backend.changeHead(),
        stream: (filter, since, name, onClose) => new ChangeStream(this.#backend, this.#hub, { filter, since, consumer: name, onClose }),
      },
      name,
      options,
    )
    this.#consumers.add(consumer)
    return consumer
  }

  /**
   * @internal For lifecycle tools (import, migrations, retention): runs `work` as one write of
   * this process's queue (its own savepoint when batched), inside an open transaction if called
   * from one. Bypasses ownership and validation: the caller does its own.
   */
  runWrite<T>(work: (tx: WriteTx) => Promise<T>): Promise<T> {
    return this.#operation(() => this.#write({ atomic: false, work }))
  }

  /** @internal Runs `work` on the latest committed state (or inside the open transaction). */
  runRead<T>(work: (tx: ReadTx) => Promise<T>): Promise<T> {
    return this.#operation(() => this.#read(work))
  }

  /** Applies change-log retention now (it also runs by itself every 1000 writes). Resolves with the number dropped. */
  trimChanges(): Promise<number> {
    return this.#operation(() => this.#write({ atomic: false, work: (tx) => tx.trimChanges(this.settings.changeRetention, Date.now()) }))
  }

  /**
   * Lets every operation already called finish (they resolve or reject as usual), then closes the
   * database. Operations called afterwards fail with STORE_CLOSED. Safe to call more than once.
   */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#hub.close()
      await Promise.all([...this.#consumers].map((c) => c.close()))
      if (this.#operations > 0) await new Promise<void>((resolve) => (this.#noOperations = resolve))
      await this.#queue.idle()
      await this.#backend.close()
    })()
    return this.#closed
  }

  /** After each committed batch: wake this process's change readers, and now and then apply retention. */
  #committed(writes: number): void {
    this.#hub.poke()
    this.#writesSinceTrim += writes
    if (this.#writesSinceTrim >= TRIM_EVERY_WRITES && this.#closed === undefined) {
      this.#writesSinceTrim = 0
      this.trimChanges().catch(() => undefined) // Retention retries on the next pass; a write never fails for it.
    }
  }

  #operation<T>(op: () => Promise<T>): Promise<T> {
    // Inside a transaction the operation belongs to it: the transaction itself is being waited for.
    if (this.#closed !== undefined && TxScope.current(this) === undefined) return Promise.reject(storeClosed())
    this.#operations++
    return op().finally(() => {
      if (--this.#operations === 0) this.#noOperations?.()
    })
  }

  #write<T>(job: WriteJob<T>): Promise<T> {
    const scope = TxScope.current(this)
    return scope === undefined ? this.#queue.push(job) : scope.run(job.work)
  }

  #read<T>(work: (tx: ReadTx) => Promise<T>): Promise<T> {
    const scope = TxScope.current(this)
    return scope === undefined ? this.#backend.read(work) : scope.run(work)
  }
}

/** The backend the settings ask for: PostgreSQL for a url (loaded only then), else SQLite. */
async function openBackend(settings: StoreSettings): Promise<Backend> {
  if (settings.url !== undefined) {
    const { openPostgresBackend } = await import('../backends/postgres/postgres-backend.js')
    return openPostgresBackend({ url: settings.url, ...settings.postgres, busyTimeoutMs: settings.busyTimeoutMs, durability: settings.durability })
  }
  const memory = settings.path === ':memory:'
  const file = memory ? ':memory:' : resolveStorePath(settings.path, settings.dataDir).file
  const backend = await SqliteBackend.open({
    path: file,
    durability: settings.durability,
    busyTimeoutMs: settings.busyTimeoutMs,
    journalSizeLimitBytes: DEFAULT_JOURNAL_SIZE_LIMIT_BYTES,
    walCheckpointBytes: DEFAULT_WAL_CHECKPOINT_BYTES,
  })
  if (!memory) restrictFileMode(file)
  return backend
}

/**
 * Opens (creating if needed) a store shared with every other process that opens the same file.
 * Creates the tables and indexes of the declared collections. Rejects with UNSAFE_PATH when the
 * file would land outside `dataDir` or in a directory every user can write to.
 *
 * @example
 * const store = await openStore({
 *   path: 'data/app.db',
 *   role: 'daemon',
 *   collections: { sessions: { writers: ['daemon'], indexes: ['projectId'] } },
 * })
 * const s = await store.collection('sessions').insert({ projectId: 'p1' })
 */
export async function openStore<C extends CollectionsConfig>(config: StoreConfig<C>): Promise<Store<C>> {
  const settings = parseStoreConfig(config)
  const backend = config.backend ?? (await openBackend(settings))
  try {
    const layouts = [...settings.collections.values()].map((c) => ({ name: c.name, indexes: c.indexes }))
    await backend.prepare([...layouts, { name: CONSUMERS_COLLECTION, indexes: [] }])
  } catch (error) {
    await backend.close()
    throw error
  }
  return new Store<C>(settings, backend)
}
