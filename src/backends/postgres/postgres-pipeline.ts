import type { PostgresPoolClient, PostgresQuery } from './postgres-config.js'
import type { ErrorContext } from './postgres-errors.js'
import { argument, preparedOn } from './postgres-prepared.js'

/**
 * Statements of a PostgreSQL write transaction that wait to travel with its next one, in a single
 * simple-protocol message (engine-only: round trips are the cost of a write on a server, and SQLite
 * has none). See PostgresWriteTx for which statements wait and why an error there is theirs.
 */

/** Statements taken to be sent, and whose context their errors get. */
export interface Prefix {
  statements: string[]
  context: ErrorContext
  /** BEGIN is among them. */
  begins: boolean
  /** Deferred writes are among them (their context names the collection). */
  deferredWrites: boolean
}

export class PendingStatements {
  readonly #client: PostgresPoolClient
  /**
   * A savepoint that is finished but not yet released. RELEASE rides along with the next SAVEPOINT
   * (one round trip, not two: batched writes each open one), and COMMIT releases everything anyway.
   */
  #release: string | undefined
  /**
   * SAVEPOINTs opened but not sent yet: each goes with the first statement run inside it (the
   * read of an update, say), so a write of a batch costs one round trip less. A savepoint whose
   * work sent nothing was never on the server and needs no RELEASE or ROLLBACK TO.
   */
  #savepoints: string[] = []
  /** Writes outside any savepoint not sent yet: they go with the next statement. */
  #deferred: string[] = []
  #deferredContext: ErrorContext | undefined
  /** PREPAREs the next message must start with (statements its EXECUTEs need on this connection). */
  #prepares = new Map<string, string>()

  constructor(client: PostgresPoolClient) {
    this.#client = client
  }

  /** Whether anything waits (BEGIN, which the transaction holds, aside). */
  get waiting(): boolean {
    return this.#release !== undefined || this.#deferred.length > 0 || this.#savepoints.length > 0 || this.#prepares.size > 0
  }

  /** Whether writes outside any savepoint wait. */
  get hasDeferred(): boolean {
    return this.#deferred.length > 0
  }

  /**
   * `EXECUTE` of a named statement of the backend, its values as literals, PREPAREd on this
   * connection by the next message if it is not yet; undefined when a value cannot be a literal.
   */
  execute(query: PostgresQuery): string | undefined {
    if (query.name === undefined) return undefined
    const args: string[] = []
    for (const value of query.values ?? []) {
      const arg = argument(value)
      if (arg === undefined) return undefined
      args.push(arg)
    }
    const name = `${query.name}_s`
    if (preparedOn.get(this.#client)?.has(name) !== true) this.#prepares.set(name, `PREPARE ${name} AS ${query.text}`)
    return args.length === 0 ? `EXECUTE ${name}` : `EXECUTE ${name}(${args.join(', ')})`
  }

  /**
   * Queues a statement for the next message. With a context it is a write (its errors name the
   * first deferred write's collection, and its id when it is alone); without, it rides along.
   */
  defer(statement: string, context?: ErrorContext): void {
    this.#deferred.push(statement)
    if (context === undefined) return
    this.#deferredContext =
      this.#deferredContext === undefined
        ? context
        : { collection: this.#deferredContext.collection ?? context.collection, operation: 'write' }
  }

  queueSavepoint(name: string): void {
    this.#savepoints.push(name)
  }

  /** Forgets a savepoint that was never sent (and any opened inside it); false if it was sent. */
  dropSavepoint(name: string): boolean {
    const at = this.#savepoints.indexOf(name)
    if (at === -1) return false
    this.#savepoints.length = at
    return true
  }

  /** A finished savepoint, released by the next message. */
  release(name: string): void {
    this.#release = name
  }

  /** A savepoint was rolled back: one finished (or opened and never sent) inside it is undone with it. */
  forgetSavepoints(): void {
    this.#release = undefined
    this.#savepoints = []
  }

  /** The statements waiting to be sent, in order, preceded by `begin` if given; the caller sends them. */
  take(begin: string | undefined): Prefix {
    // PREPAREs first: they last for the session whatever happens to the transaction, so once the
    // message is sent they exist (unless the connection is lost, and then it is closed).
    const statements: string[] = [...this.#prepares.values()]
    if (this.#prepares.size > 0) {
      let prepared = preparedOn.get(this.#client)
      if (prepared === undefined) preparedOn.set(this.#client, (prepared = new Set()))
      for (const name of this.#prepares.keys()) prepared.add(name)
      this.#prepares.clear()
    }
    if (begin !== undefined) statements.push(begin)
    const deferredWrites = this.#deferred.length > 0
    if (this.#release !== undefined) statements.push(`RELEASE SAVEPOINT ${this.#release}`)
    this.#release = undefined
    statements.push(...this.#deferred)
    // After the deferred writes: those belong to the level outside the savepoints.
    for (const name of this.#savepoints) statements.push(`SAVEPOINT ${name}`)
    this.#savepoints = []
    const context = this.#deferredContext ?? {}
    this.#deferred = []
    this.#deferredContext = undefined
    return { statements, context, begins: begin !== undefined, deferredWrites }
  }
}
