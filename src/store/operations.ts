import type { Backend } from '../backends/backend.js'
import { explainBusy } from '../registry/busy-holders.js'
import { settle } from './settle.js'

/**
 * The operations a store has started and not yet settled, so that close() lets them finish; and
 * the one thing every failed operation gets: a BUSY_TIMEOUT says who holds the lock, where the
 * registry can tell (a read: it never waits for the lock).
 */
export class Operations {
  readonly #backend: Backend
  #count = 0
  #idle: (() => void) | undefined

  constructor(backend: Backend) {
    this.#backend = backend
  }

  run<T>(op: () => Promise<T>): Promise<T> {
    this.#count++
    return settle(op).then(this.#settled as (value: T) => T, this.#failed)
  }

  /** Resolves once no operation is in flight. */
  idle(): Promise<void> {
    return this.#count === 0 ? Promise.resolve() : new Promise<void>((resolve) => (this.#idle = resolve))
  }

  /** Ends one operation: bound once, not a pair of closures per call. */
  readonly #settled = <T>(value: T): T => {
    if (--this.#count === 0) this.#idle?.()
    return value
  }

  readonly #failed = (error: unknown): Promise<never> | never => {
    if ((error as { code?: unknown } | null)?.code === 'BUSY_TIMEOUT') return explainBusy(error, this.#backend).then(this.#rethrow)
    return this.#rethrow(error)
  }

  readonly #rethrow = (error: unknown): never => {
    if (--this.#count === 0) this.#idle?.()
    throw error
  }
}
