import { Collection, type Runner } from './collection.js'
import type { CollectionsConfig, DataOf, InputOf } from './config.js'
import { txRunner } from './tx-runner.js'
import type { Store } from './store.js'
import { TxScope } from './tx-scope.js'
import { declaredSettings } from './collection-lookup.js'

/** The typed collection for name K of config C. */
export type CollectionOf<C extends CollectionsConfig, K extends keyof C & string> = Collection<DataOf<C[K]>, InputOf<C[K]>, K>

/**
 * A handle on an open transaction, passed to the `store.transaction()` callback. Everything done
 * through it commits together when the callback resolves, or not at all if it throws.
 */
export class Transaction<C extends CollectionsConfig = CollectionsConfig> {
  readonly #store: Store<C>
  readonly #scope: TxScope
  readonly #role: string

  /** @internal use store.transaction() */
  constructor(store: Store<C>, scope: TxScope, role: string = store.role) {
    this.#store = store
    this.#scope = scope
    this.#role = role
  }

  /** The role this transaction writes as. */
  get role(): string {
    return this.#role
  }

  collection<K extends keyof C & string>(name: K): CollectionOf<C, K> {
    return new Collection(declaredSettings(name, this.#store.settings.collections), this.#runner())
  }

  /** A nested transaction (a savepoint): if `fn` throws, only its own writes are undone. */
  transaction<T>(fn: (tx: Transaction<C>) => Promise<T>): Promise<T> {
    return this.#live().run((tx) => this.#store.runInScope(tx, fn, true, this.#role))
  }

  #live(): TxScope {
    if (!this.#scope.active) throw this.#scope.ended()
    // Inside a nested transaction, calls made through an outer handle run in the innermost one.
    const current = TxScope.current(this.#store)
    return current !== undefined && current.tx === this.#scope.tx ? current : this.#scope
  }

  #runner(): Runner {
    return txRunner(
      this.#role,
      (work) => this.#live().run(work),
      (options) => this.#store.changes(options),
      // history() reads the log outside the transaction (it does not see this one's own writes),
      // but only while the transaction is open, as every other call through this handle.
      {
        readChanges: (cursor, limit, filter) => {
          this.#live()
          return this.#store.backend.readChanges(cursor, limit, filter)
        },
      },
    )
  }
}
