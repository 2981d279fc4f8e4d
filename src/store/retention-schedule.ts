import type { WriteTx } from '../backends/backend.js'
import type { StoreSettings } from './config.js'
import { TRIM_BATCH, applyRetention } from './retention.js'

/** Committed writes between two passes of change-log retention. */
const TRIM_EVERY_WRITES = 1000
/** Committed writes between two passes of collection retention (amortised: no scan per insert). */
const RETAIN_EVERY_WRITES = 100

/** What the schedule needs of its store. */
export interface RetentionHost {
  readonly settings: StoreSettings
  readonly role: string
  runWrite<T>(work: (tx: WriteTx) => Promise<T>): Promise<T>
  trimChanges(): Promise<number>
}

/**
 * When a store applies its retention limits by itself: the change log's every 1000 committed
 * writes, the collections' every 100 (only when a collection has limits), one pass at a time.
 * Retention never fails a write: a pass that fails is simply retried by the next one.
 */
export class RetentionSchedule {
  #writesSinceTrim = 0
  #writesSinceRetention = 0
  #retaining = false
  readonly #hasRetention: boolean
  readonly #store: RetentionHost

  constructor(store: RetentionHost) {
    this.#store = store
    this.#hasRetention = [...store.settings.collections.values()].some((c) => c.retain !== undefined)
  }

  /** Counts a committed batch's writes, and starts a pass when one is due. */
  committed(writes: number): void {
    this.#writesSinceTrim += writes
    this.#writesSinceRetention += writes
    if (this.#writesSinceTrim >= TRIM_EVERY_WRITES) {
      this.#writesSinceTrim = 0
      this.#store.trimChanges().catch(() => undefined)
    }
    if (this.#writesSinceRetention >= RETAIN_EVERY_WRITES && !this.#retaining && this.#hasRetention) {
      this.#writesSinceRetention = 0
      this.#retaining = true
      this.retainAll()
        .catch(() => undefined)
        .finally(() => (this.#retaining = false))
    }
  }

  /** One retention pass over every collection with limits; resolves with the number trimmed per collection. */
  async retainAll(): Promise<Record<string, number>> {
    const trimmed: Record<string, number> = {}
    for (const collection of this.#store.settings.collections.values()) {
      const retain = collection.retain
      if (retain === undefined) continue
      trimmed[collection.name] = 0
      for (;;) {
        const n = await this.#store.runWrite((tx) => applyRetention(tx, collection, retain, this.#store.role, Date.now()))
        trimmed[collection.name]! += n
        if (n < TRIM_BATCH) break
      }
    }
    return trimmed
  }
}
