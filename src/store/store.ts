import { READ_LATER, type Backend, type ReadNowTx, type ReadTx, type ReclaimReport, type WriteTx } from '../backends/backend.js'
import { ChangeHub } from '../changes/change-hub.js'
import type { AnyChange, ChangeOf, ChangesOptions } from '../changes/change.js'
import { ChangeStream } from '../changes/change-stream.js'
import { Consumer, type ConsumerOptions } from '../changes/consumer.js'
import { storeClosed, type TandemError } from '../errors.js'
import type { MigrationReport } from '../migrations/migration.js'
import { isStale, pruneStale, type ProcessEntry } from '../registry/process-registry.js'
import { Collection, type Runner } from './collection.js'
import { ROLE, checkCollectionFilter, type CollectionsConfig, type StoreSettings } from './config.js'
import { describeBackend, registeredProcesses, type StoreDescription } from './describe.js'
import { definitionFingerprint } from './declarations.js'
import { Membership } from './membership.js'
import { RetentionSchedule } from './retention-schedule.js'
import { applySeeds, declaredSeeds } from './seeds.js'
import { TxScope } from './tx-scope.js'
import { StoreAs } from './store-as.js'
import { Operations } from './operations.js'
import { StartingStreams } from './starting-streams.js'
import { WriteQueue, type WriteJob } from './write-queue.js'
import { Transaction, type CollectionOf } from './transaction.js'
import { declaredSettings, readerSettings } from './collection-lookup.js'

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
  readonly #operations: Operations
  readonly #hub: ChangeHub
  readonly #consumers = new Set<Consumer<AnyChange>>()
  readonly #startingStreams = new StartingStreams()
  readonly #retention: RetentionSchedule
  #refusal: TandemError | undefined
  #refusalReported = false // onWritesRefused was called (once per store)
  readonly #membership: Membership
  readonly #cleanups: (() => Promise<void> | void)[] = []
  #fingerprint: string | undefined
  /** What the migrations did when this store opened. */
  migrations: MigrationReport = { storeVersion: 0, knownVersion: 0, outcomes: [], warnings: [] }

  /** @internal use openStore() */
  constructor(settings: StoreSettings, backend: Backend) {
    this.settings = settings
    this.#backend = backend
    this.#hub = new ChangeHub(backend)
    this.#retention = new RetentionSchedule(this)
    this.#operations = new Operations(backend)
    this.#queue = new WriteQueue(backend, settings.busyTimeoutMs, (writes) => this.#committed(writes))
    this.#runner = {
      role: settings.role,
      operation: (op) => this.#operation(op),
      write: (job) => this.#write(job),
      read: (work) => this.#read(work),
      readNow: backend.readNow === undefined ? undefined : (work) => this.#readNow(work),
      callback: (tx, body) => (TxScope.current(this) === undefined ? TxScope.within(this, tx, body) : Promise.resolve(body())),
      changes: (options) => this.changes(options),
      changeLog: backend,
    }
    this.#membership = new Membership({
      role: settings.role,
      singleton: settings.singleton,
      fingerprint: () => this.fingerprint,
      collections: settings.collections.values(),
      backend,
      runWrite: (work) => this.runWrite(work),
      runRead: (work) => this.runRead(work),
      live: () => this.#closed === undefined && this.#refusal === undefined,
      lost: (error) => this.#writesRefused(error),
    })
    backend.onFault?.((error) => this.#writesRefused(error as TandemError))
  }

  /** This process's role. */
  get role(): string {
    return this.settings.role
  }

  /**
   * A short fingerprint of the definition this process opened the store with (its collections'
   * writers, indexes, schemas and retention, and its migrations); `tandem status` shows each live
   * process's. Processes that agree on the definition have the same one.
   */
  get fingerprint(): string {
    return (this.#fingerprint ??= definitionFingerprint(this.settings.collections.values(), this.settings.migrations))
  }

  /** The engine behind the store: 'sqlite', 'postgres' or 'files'. */
  get kind(): Backend['kind'] {
    return this.#backend.kind
  }

  /** @internal The backend, for this package's tools that need engine details (status, backup, benchmarks). */
  get backend(): Backend {
    return this.#backend
  }

  collection<K extends keyof C & string>(name: K): CollectionOf<C, K> {
    let collection = this.#collections.get(name)
    if (collection === undefined)
      this.#collections.set(name, (collection = new Collection(declaredSettings(name, this.settings.collections), this.#runner)))
    return collection as unknown as CollectionOf<C, K>
  }

  /**
   * Runs `fn` in one transaction across collections: every write in it commits together when
   * `fn` resolves, or none does if it throws. Concurrent transactions of this process queue up
   * (they never interleave); other processes wait for the commit. Called inside another
   * transaction it becomes a nested one (a savepoint). Keep side effects (emails, HTTP calls) out
   * of `fn`: on PostgreSQL a deadlocked transaction is retried and `fn` runs again.
   *
   * @example
   * await store.transaction(async (tx) => {
   *   const p = await tx.collection('projects').insert({ name: 'tandem' })
   *   await tx.collection('events').insert({ projectId: p.id, kind: 'created' })
   * })
   */
  transaction<T>(fn: (tx: Transaction<C>) => Promise<T>): Promise<T> {
    return this.transactionAs(this.role, fn)
  }

  /** @internal store.transaction() writing as `role` (see as()). */
  transactionAs<T>(role: string, fn: (tx: Transaction<C>) => Promise<T>): Promise<T> {
    if (typeof fn !== 'function') throw new TypeError(`transaction takes an async function (tx) => ... (got ${typeof fn}).`)
    const scope = TxScope.current(this)
    if (scope !== undefined) return scope.run((tx) => this.runInScope(tx, fn, true, role))
    return this.#operation(() => this.#write({ atomic: false, work: (tx) => this.runInScope(tx, fn, false, role) }))
  }

  /** @internal Runs a transaction callback in a fresh scope, inside a savepoint when nested. */
  runInScope<T>(tx: WriteTx, fn: (tx: Transaction<C>) => Promise<T>, nested: boolean, role: string = this.role): Promise<T> {
    const body = () => TxScope.within(this, tx, (scope) => fn(new Transaction(this, scope, role)))
    return nested ? tx.savepoint(body) : body()
  }

  /**
   * A handle on this store that writes as `role` instead of this process's role: ownership is
   * checked against `role`, and records and changes carry it. For a process that writes on behalf
   * of others (`tandem serve` acts as each request's token role); the process itself stays
   * registered under its own role, and a singleton `role` is not claimed by it.
   */
  as(role: string): StoreAs<C, Transaction<C>> {
    if (typeof role !== 'string' || !ROLE.test(role))
      throw new TypeError(`A role is 1 to 64 letters, digits or _ . : - (got ${JSON.stringify(role)}).`)
    const runner: Runner = role === this.role ? this.#runner : { ...this.#runner, role }
    return new StoreAs(role, {
      collection: (name) =>
        role === this.role
          ? (this.collection(name as keyof C & string) as unknown as Collection)
          : new Collection(declaredSettings(name, this.settings.collections), runner),
      transaction: (fn) => this.transactionAs(role, fn),
      consumer: (name, options) => this.consumerAs(role, name, options),
    })
  }

  /**
   * Every committed change of the store (any process), in seq order, each once, as an async
   * iterator: `for await (const c of store.changes({ collections: ['jobs'] }))`. Without
   * `collections`, the changes of every collection this store declares (of every collection when
   * it declares none). Each change is typed by its collection: `c.collection === 'jobs'` narrows
   * `c.data`. `since` is 'now' (default: changes committed after this call), 'beginning', or a seq
   * to continue after. Ends when you break out, call `close()`, or close the store. Throws
   * ChangesTrimmedError instead of silently skipping changes retention already dropped.
   */
  changes<K extends keyof C & string = keyof C & string>(options: ChangesOptions<K> = {}): ChangeStream<ChangeOf<C, K>> {
    if (this.#closed !== undefined) throw storeClosed()
    const since = options.since ?? 'now'
    if (since !== 'now' && since !== 'beginning' && !(Number.isInteger(since) && since >= 0)) {
      throw new RangeError(`since must be 'now', 'beginning' or a change seq (got ${JSON.stringify(since)}).`)
    }
    const filter = checkCollectionFilter(this.#declaredFilter(options))
    const stream = new ChangeStream<ChangeOf<C, K>>(this.#backend, this.#hub, {
      filter,
      since,
      observer: { onInterrupted: options.onInterrupted, onResume: options.onResume },
    })
    if (since === 'now') this.#startingStreams.add(stream.headTried, this.settings.busyTimeoutMs)
    return stream
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
  consumer<K extends keyof C & string = keyof C & string>(name: string, options: ConsumerOptions<K> = {}): Consumer<ChangeOf<C, K>> {
    return this.consumerAs(this.role, name, options)
  }

  /** @internal store.consumer() writing its position as `role` (see as()). */
  consumerAs<K extends keyof C & string = keyof C & string>(
    role: string,
    name: string,
    options: ConsumerOptions<K> = {},
  ): Consumer<ChangeOf<C, K>> {
    if (this.#closed !== undefined) throw storeClosed()
    options = this.#declaredFilter(options)
    checkCollectionFilter(options)
    const consumer = new Consumer<ChangeOf<C, K>>(
      {
        role,
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
   * A reader's options with the default collection filter: the declared collections, so that
   * every change it delivers has the type of a declared collection. A store that declares none
   * (the CLI's) reads every collection.
   */
  #declaredFilter<O extends { collections?: readonly string[] }>(options: O): O {
    if (options === null || typeof options !== 'object' || options.collections !== undefined) return options
    const declared = [...this.settings.collections.keys()]
    return declared.length === 0 ? options : { ...options, collections: declared }
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
      this.#membership.stop()
      await Promise.all(this.#cleanups.map(async (cleanup) => cleanup()))
      await Promise.all([...this.#consumers].map((c) => c.close()))
      await this.#operations.idle()
      const unregister = this.#membership.unregisterJob()
      // A failed unregister only leaves an entry that the next opener prunes (our pid is gone by then).
      if (unregister !== undefined) await this.#queue.push(unregister).catch(() => undefined)
      await this.#queue.idle()
      await this.#backend.close()
    })()
    return this.#closed
  }

  /** After each committed batch: wake this process's change readers, and now and then apply retention. */
  #committed(writes: number): void {
    this.#hub.poke()
    if (this.#closed === undefined) this.#retention.committed(writes)
  }

  /**
   * Applies every retention limit now — collections' `retain` (archiving first) and the change
   * log's — instead of waiting for the amortised passes that run every few hundred writes.
   */
  compact(): Promise<{ trimmed: Record<string, number>; changesTrimmed: number }> {
    return this.#operation(async () => ({ trimmed: await this.#retention.retainAll(), changesTrimmed: await this.trimChanges() }))
  }

  /**
   * Gives the space the store no longer uses back (SQLite: to the file system, in small steps;
   * PostgreSQL: VACUUM, not FULL). Run compact() first to trim. Undefined when the engine cannot.
   */
  reclaimSpace(): Promise<ReclaimReport | undefined> {
    return this.#operation(async () => this.#backend.reclaimSpace?.())
  }

  /** @internal Inserts the declared seed records that were never seeded. */
  async seed(): Promise<number> {
    const seeds = await declaredSeeds(this.settings.collections.values())
    return seeds.length === 0 ? 0 : this.runWrite((tx) => applySeeds(tx, seeds, this.role))
  }

  /**
   * @internal Registers this process (enforcing a singleton role) and starts its heartbeat; a
   * singleton holder's writes are fenced from then on (see Membership).
   */
  register(): Promise<void> {
    return this.#membership.register()
  }

  /**
   * The store refuses writes from now on, for a reason found after it opened (ROLE_LOST, STORE_FILES_CHANGED):
   * every later write rejects with `error`, the heartbeat stops, and onWritesRefused hears of it once.
   */
  #writesRefused(error: TandemError): void {
    this.#refusal ??= error
    this.#membership.stop()
    if (this.#refusalReported) return
    this.#refusalReported = true
    const listener = this.settings.onWritesRefused
    if (listener !== undefined) queueMicrotask(() => listener(error))
  }

  /**
   * What is in the store and who uses it: sizes (split into records, indexes, change log, history
   * copies and free pages, with the amplification: size ÷ live data), schema version, every collection with its count,
   * writers and indexes (as declared by the processes that use it), the change-log head, each
   * durable consumer's position, and the live processes. What `tandem status` prints.
   */
  describe(): Promise<StoreDescription> {
    return this.#operation(() => describeBackend(this.#backend, (work) => this.#read(work)))
  }

  /** The engine's consistency check (SQLite: PRAGMA integrity_check): ['ok'] when sound. */
  checkIntegrity(): Promise<string[]> {
    return this.#operation(async () => (await this.#backend.checkIntegrity?.()) ?? ['ok'])
  }

  /** Removes registrations of processes that died without closing; resolves with them. */
  pruneProcesses(): Promise<ProcessEntry[]> {
    return this.runWrite((tx) => pruneStale(tx, Date.now()))
  }

  /**
   * Read access to any collection that exists in the store, declared by this program or not (for
   * tools). Writes through it fail with NOT_OWNER.
   */
  reader(name: string): Collection {
    return new Collection(readerSettings(name, this.settings.collections), this.#runner)
  }

  /** The processes that have this store open now (stale entries of dead processes left out). */
  processes(): Promise<ProcessEntry[]> {
    return this.runRead(async (tx) => {
      const now = Date.now()
      return (await registeredProcesses(tx)).filter((e) => !isStale(e, now))
    })
  }

  /** @internal Runs `cleanup` (a background job's stop function) when the store closes, before the database does. */
  onClose(cleanup: () => Promise<void> | void): void {
    this.#cleanups.push(cleanup)
  }

  /** @internal Makes every write fail with `reason` (an old program on a newer store). */
  refuseWrites(reason: TandemError): void {
    this.#refusal = reason
  }

  #operation<T>(op: () => Promise<T>): Promise<T> {
    // Inside a transaction the operation belongs to it: the transaction itself is being waited for.
    if (this.#closed !== undefined && TxScope.current(this) === undefined) return Promise.reject(storeClosed())
    return this.#operations.run(op)
  }

  #write<T>(job: WriteJob<T>): Promise<T> {
    if (this.#refusal !== undefined) return Promise.reject(this.#refusal)
    const scope = TxScope.current(this)
    if (scope !== undefined) return scope.run(job.work)
    job = this.#membership.fence(job)
    const starting = this.#startingStreams.started()
    if (starting !== undefined) return starting.then(() => this.#queue.push(job))
    return this.#queue.push(job)
  }

  /**
   * A read without a promise, when nothing stands in the way: no transaction of this store around
   * the call (its reads must see the transaction's writes), the store not closing. READ_LATER
   * otherwise, and the caller goes the asynchronous way, which reports those cases.
   */
  #readNow<T>(work: (tx: ReadNowTx) => T): T | typeof READ_LATER {
    if (this.#closed !== undefined || TxScope.current(this) !== undefined) return READ_LATER
    return this.#backend.readNow!(work)
  }

  #read<T>(work: (tx: ReadTx) => Promise<T>): Promise<T> {
    const scope = TxScope.current(this)
    return scope === undefined ? this.#backend.read(work) : scope.run(work)
  }
}
