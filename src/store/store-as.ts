import type { Consumer, ConsumerOptions } from '../changes/consumer.js'
import type { Collection } from './collection.js'
import type { CollectionsConfig, DataOf, InputOf } from './config.js'

/** What a StoreAs needs from its store: the same operations, bound to one role. */
export interface StoreAsHooks<Tx> {
  collection(name: string): Collection
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>
  consumer(name: string, options: ConsumerOptions): Consumer
}

/**
 * The store as seen by one role (from `store.as(role)`): its collections, transactions and durable
 * consumers check ownership against that role and stamp it on what they write. Reads, the change
 * feed and everything else are the store's own. Holds no resources: make one per request if you like.
 */
export class StoreAs<C extends CollectionsConfig, Tx> {
  readonly role: string
  readonly #hooks: StoreAsHooks<Tx>

  constructor(role: string, hooks: StoreAsHooks<Tx>) {
    this.role = role
    this.#hooks = hooks
  }

  collection<K extends keyof C & string>(name: K): Collection<DataOf<C[K]>, InputOf<C[K]>> {
    return this.#hooks.collection(name) as unknown as Collection<DataOf<C[K]>, InputOf<C[K]>>
  }

  /** As `store.transaction()`, writing as this role. */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.#hooks.transaction(fn)
  }

  /** As `store.consumer()`; the consumer's position is written as this role. */
  consumer(name: string, options: ConsumerOptions = {}): Consumer {
    return this.#hooks.consumer(name, options)
  }
}
