// How every torture process opens the store: one collection of records anyone may write, and a
// change log that retention never trims during a run (the checker needs all of it).
import { openStore } from '../dist/index.js'
import { BACKENDS } from './backends.mjs'

export const COLLECTION = 'kv'

/** The record every key starts as: an append-only list, a counter and two patchable fields. */
export const EMPTY_RECORD = Object.freeze({ l: [], n: 0, a: null, b: null })

export function openTortureStore({ backend, location, durability }, role) {
  return openStore({
    ...BACKENDS[backend].storeConfig(location, role),
    role,
    durability,
    // The checker rebuilds every key's history from the feed, so the log keeps each version's data.
    collections: { [COLLECTION]: { writers: '*', history: 'full' } },
    changes: { maxCount: 1_000_000_000 },
  })
}

/** Key number i as a record id; zero-padded so id order is number order (find by $id range). */
export function keyName(i) {
  return `k${String(i).padStart(6, '0')}`
}
