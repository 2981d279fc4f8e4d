// Random transactions over a sliding window of keys. Each transaction is 1 to 4 operations; a
// single one runs as a plain API call, several run inside store.transaction(). Every value written
// is unique in the whole run (it embeds the operation id), so the checker can tell who wrote what.
//
// Operations ("micro-ops"), as logged and as the checker reads them:
//   { f: 'create', k }              insert the record with id k (DUPLICATE_ID if it exists)
//   { f: 'read', k }                get(k)
//   { f: 'readAll', lo, hi }        find() of every key with lo <= id < hi: one snapshot
//   { f: 'append', k, val }         update(k, d => ({ ...d, l: [...d.l, val] })): read-modify-write of a list
//   { f: 'incr', k }                update(k, d => ({ ...d, n: d.n + 1 }))
//   { f: 'patch', k, field, val }   patch(k, { [field]: val }), field 'a' or 'b'
//   { f: 'cas', k, val }            replace(k, { ...seen, l: [...seen.l, val] }, { ifVersion: seen's version }),
//                                   where `seen` is the preceding read of k in the same transaction
import { keyName } from './store.mjs'

const SINGLE = { read: 18, readAll: 8, append: 28, incr: 15, patch: 15, cas: 16 }
const IN_TRANSACTION = { read: 26, readAll: 4, append: 30, incr: 14, patch: 14, cas: 12 }
const ABORT_RATE = 0.1

/** The keys writers and readers use at `elapsedMs`: `keys` consecutive ones, one retiring every `shiftMs`. */
export function keyWindow(elapsedMs, keys, shiftMs) {
  const base = Math.floor(elapsedMs / shiftMs)
  return { lo: base, hi: base + keys }
}

/** Options: `findInTransaction` (default true) lets readAll run inside store.transaction(). */
export function createGenerator(random, idPrefix, { findInTransaction = true } = {}) {
  const inTransaction = findInTransaction ? IN_TRANSACTION : { ...IN_TRANSACTION, readAll: 0 }
  let n = 0
  return {
    /** A transaction that inserts the record k. */
    create(k) {
      return { id: `${idPrefix}${(n++).toString(36)}`, kind: 'direct', abort: false, ops: [{ f: 'create', k }] }
    },
    /** The next transaction on keys [window.lo, window.hi). */
    next(window) {
      const id = `${idPrefix}${(n++).toString(36)}`
      const size = random.int(1, 4)
      const ops = []
      const reads = new Set()
      const key = () => keyName(random.int(window.lo, window.hi - 1))
      const add = (f) => {
        if (f === 'readAll') return void ops.push({ f, lo: keyName(window.lo), hi: keyName(window.hi) })
        const k = key()
        if (f === 'read') reads.add(k)
        if (f === 'cas' && !reads.has(k)) {
          ops.push({ f: 'read', k })
          reads.add(k)
        }
        if (f === 'read' || f === 'incr') return void ops.push({ f, k })
        const val = `${id}.${ops.length}`
        if (f === 'patch') return void ops.push({ f, k, field: random.chance(0.5) ? 'a' : 'b', val })
        ops.push({ f, k, val })
      }
      if (size === 1) {
        add(random.weighted(SINGLE))
        // A lone compare-and-set is a get() and a replace({ ifVersion }): two calls, no transaction.
        return { id, kind: 'direct', abort: false, ops }
      }
      for (let i = 0; i < size; i++) add(random.weighted(inTransaction))
      return { id, kind: 'tx', abort: random.chance(ABORT_RATE), ops }
    },
  }
}
