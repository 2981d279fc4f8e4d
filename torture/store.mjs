// How every torture process opens the store: one collection of records anyone may write, and a
// change log that no worker's retention trims. The runner alone trims it, up to what the
// follower has acknowledged (run.mjs), so the store stays small however long the run.
import { openStore } from '../dist/index.js'
import { BACKENDS } from './backends.mjs'

export const COLLECTION = 'kv'

/** The record every key starts as: an append-only list, a counter and two patchable fields. */
export const EMPTY_RECORD = Object.freeze({ l: [], n: 0, a: null, b: null })

/** `keepChanges`: the change-log retention of this opener (default: never trims). */
export function openTortureStore({ backend, location, durability }, role, { keepChanges = 1_000_000_000 } = {}) {
  return openStore({
    ...BACKENDS[backend].storeConfig(location, role),
    role,
    durability,
    // The checker rebuilds every key's history from the feed, so the log keeps each version's data.
    collections: { [COLLECTION]: { writers: '*', history: 'full' } },
    changes: { maxCount: keepChanges },
  })
}

/** Key number i as a record id; zero-padded so id order is number order (find by $id range). */
export function keyName(i) {
  return `k${String(i).padStart(6, '0')}`
}
