import { AsyncLocalStorage } from 'node:async_hooks'
import type { WriteTx } from '../backends/backend.js'
import { TandemError } from '../errors.js'
import { settle } from './settle.js'

interface ScopeContext {
  scope: TxScope
  /** True while one operation of the scope runs: calls it makes run inside it, not after it. */
  inOperation: boolean
}

const context = new AsyncLocalStorage<ScopeContext>()

/**
 * Scopes open now, in this process, across stores. On Node 20 a running AsyncLocalStorage keeps
 * promise hooks on, making every await of the whole program about three times as costly (measured:
 * `npm run bench -- after-transaction`). So the context runs only while some transaction callback
 * runs, and is switched off when the last one ends. Nothing is lost by that: a call that outlives
 * its transaction finds the scope inactive anyway.
 */
let openScopes = 0

/** True while a transaction callback runs somewhere in this process (for tests). */
export function scopeContextOn(): boolean {
  return openScopes > 0
}

/**
 * One `store.transaction()` (or a nested one) while its callback runs. Operations started inside
 * it run on its transaction one after another, in the order they were called, so two concurrent
 * `update`s of one record inside a transaction cannot lose each other either. Calls made through
 * the plain store handle from inside the callback join the transaction instead of waiting for it
 * (which would deadlock).
 */
export class TxScope {
  #active = true
  #tail: Promise<unknown> = Promise.resolve()

  constructor(
    readonly owner: object,
    readonly tx: WriteTx,
  ) {
    openScopes++
  }

  /** False once the transaction's callback has ended: calls on it are refused. */
  get active(): boolean {
    return this.#active
  }

  /** The callback has ended (committed or not); the last scope to end switches the context off. */
  close(): void {
    if (!this.#active) return
    this.#active = false
    if (--openScopes === 0) context.disable()
  }

  /** Runs user code with `tx` as the current transaction of `owner` (a store), until it and every call it started are done. */
  static async within<T>(owner: object, tx: WriteTx, body: (scope: TxScope) => T | Promise<T>): Promise<T> {
    const scope = new TxScope(owner, tx)
    try {
      return await scope.enter(async () => {
        const result = await body(scope)
        // Calls the callback started but did not await still belong to this transaction.
        await scope.settled()
        return result
      })
    } finally {
      scope.close()
    }
  }

  /** The innermost live scope of `owner` (a store) this call runs in, if any. */
  static current(owner: object): TxScope | undefined {
    const ctx = context.getStore()
    return ctx !== undefined && ctx.scope.active && ctx.scope.owner === owner ? ctx.scope : undefined
  }

  /** Runs the body of a transaction callback inside this scope. */
  enter<T>(body: () => Promise<T>): Promise<T> {
    return context.run({ scope: this, inOperation: false }, body)
  }

  /** Runs one operation on the transaction, after the operations called before it. */
  run<T>(work: (tx: WriteTx) => T | Promise<T>): Promise<T> {
    const ctx = context.getStore()
    if (ctx?.scope === this && ctx.inOperation) return settle(() => work(this.tx))
    const result = this.#tail.then(() => {
      if (!this.#active) throw this.ended()
      return context.run({ scope: this, inOperation: true }, () => work(this.tx))
    })
    this.#tail = result.catch(() => undefined)
    return result
  }

  /** Resolves when every operation called so far has finished. */
  async settled(): Promise<void> {
    let tail: Promise<unknown>
    do {
      tail = this.#tail
      await tail
    } while (tail !== this.#tail)
  }

  ended(): Error {
    return new TandemError(
      'TRANSACTION_CLOSED',
      'This transaction has already committed or rolled back; its handle cannot be used any more.',
      {
        hint: 'Use the tx handle only inside the callback given to store.transaction(), and await every call made with it.',
      },
    )
  }
}
