// The checker's index of a history: who wrote each value, what every successful read saw, and the
// state of each key at the end. Every check works from this.
//
// A history (what tests write by hand; check-run.mjs streams the same from a run directory):
//   ops:    [{ id, session, inv, cmp, status: 'ok' | 'fail' | 'unknown', kind: 'direct' | 'tx',
//              abort?, txn: [micro-op...], res?: [result...], error?: { code, msg } }]
//           inv/cmp are microseconds on a clock shared by every process; cmp is Infinity when the
//           outcome is unknown (the process died, or the error left it open)
//   final:  { records: { [key]: { v, l, n, a, b } }, head } or undefined when it could not be read
//   feed:   { incarnations: [{ position, changes: [{ seq, c, id, op, v, d }], acks: [seq...] }] }
//           or undefined when no follower ran
//   health: [{ what, detail }] (crashes, integrity) reported by the runner
//   faults: { [name]: count } (for the summary only)

import { listDigest, prefixDigests } from '../digest.mjs'

/** What a missing record reads as: version 0, nothing in it. */
export const MISSING = Object.freeze({ v: 0, len: 0, last: null, h: listDigest([]), n: 0, a: null, b: null, missing: true })

/**
 * A state as the checks use it: { v, len, last, h, n, a, b }, plus `l` when the whole list is known
 * (final records, hand-written histories). Logs carry the summary only (see digest.mjs).
 */
export function normalize(state) {
  if (state === null || state === undefined) return MISSING
  if (state.l === undefined) return state
  return { ...state, len: state.l.length, last: state.l.length === 0 ? null : state.l[state.l.length - 1], h: listDigest(state.l) }
}

/** True when `state`'s list is exactly the first state.len values of k's final list. */
export function matchesFinal(model, k, state) {
  const digests = model.finalPrefix.get(k) ?? EMPTY_PREFIX
  return state.len < digests.length && digests[state.len] === state.h
}
const EMPTY_PREFIX = prefixDigests([])

const WRITES = new Set(['create', 'append', 'incr', 'patch', 'cas'])

export function isWrite(op) {
  return WRITES.has(op.f)
}

function keyNumber(key) {
  return Number(key.slice(1))
}

function keyName(i, like) {
  return `k${String(i).padStart(like.length - 1, '0')}`
}

export function buildModel(history, options = {}) {
  const ops = history.ops.map((op, index) => ({
    ...op,
    index,
    cmp: op.status === 'ok' || op.status === 'fail' ? (op.cmp ?? Infinity) : Infinity,
  }))
  const final = new Map(Object.entries(history.final?.records ?? {}).map(([k, r]) => [k, normalize(r)]))
  const finalPrefix = new Map([...final].map(([k, r]) => [k, prefixDigests(r.l ?? [])]))
  /** value → { op, k, i, f, field } for every appended or patched value. */
  const writerOfValue = new Map()
  /** `${k}@${v}` → [{ op, i }] for each write of an ok op and the version it reported. */
  const versionWriters = new Map()
  /** Every state a successful operation saw: { op, i, k, obs, external }. */
  const observations = []
  /** Per op: Map k → last value it appended to k; Map `${k}.${field}` → last value it patched there. */
  const lastAppend = new Map()
  const lastPatch = new Map()

  for (const op of ops) {
    const appended = new Map()
    const patched = new Map()
    const writtenKeys = new Set()
    op.txn.forEach((m, i) => {
      if (m.f === 'append' || m.f === 'cas') {
        writerOfValue.set(m.val, { op, k: m.k, i, f: m.f })
        appended.set(m.k, m.val)
      } else if (m.f === 'patch') {
        writerOfValue.set(m.val, { op, k: m.k, i, f: m.f, field: m.field })
        patched.set(`${m.k}.${m.field}`, m.val)
      }
      if (op.status !== 'ok') return
      const r = op.res?.[i]
      if (isWrite(m)) {
        if (r?.v !== undefined) {
          const key = `${m.k}@${r.v}`
          if (!versionWriters.has(key)) versionWriters.set(key, [])
          versionWriters.get(key).push({ op, i })
        }
      } else if (m.f === 'read') {
        observations.push({ op, i, k: m.k, obs: normalize(r), external: !writtenKeys.has(m.k) })
      } else if (m.f === 'readAll') {
        const lo = keyNumber(m.lo)
        const hi = keyNumber(m.hi)
        for (let n = lo; n < hi; n++) {
          const k = keyName(n, m.lo)
          observations.push({ op, i, k, obs: normalize(r?.[k]), external: !writtenKeys.has(k) })
        }
      }
      if (isWrite(m)) writtenKeys.add(m.k)
    })
    lastAppend.set(op, appended)
    lastPatch.set(op, patched)
  }

  const feedChanges =
    options.feedChanges === undefined
      ? uniqueFeedChanges(history.feed)
      : options.feedChanges.map((c) => (c.d === undefined ? c : { ...c, d: normalize(c.d) }))
  /** Every value seen anywhere: final lists and fields, reads, change-feed data. */
  const seenValues = new Set()
  const see = (state) => {
    if (state === undefined || state === null) return
    for (const v of state.l ?? []) seenValues.add(v)
    if (state.last != null) seenValues.add(state.last)
    if (state.a != null) seenValues.add(state.a)
    if (state.b != null) seenValues.add(state.b)
  }
  for (const record of final.values()) see(record)
  for (const o of observations) see(o.obs)
  for (const change of feedChanges) see(change.d)

  return {
    history,
    ops,
    final,
    finalPrefix,
    finalKnown: history.final !== undefined,
    writerOfValue,
    versionWriters,
    observations,
    lastAppend,
    lastPatch,
    feedChanges,
    seenValues,
    gapFreeSeq: options.gapFreeSeq ?? true,
    /** Who wrote a value this model does not hold (one written to another key), when known. */
    lookupWriter: options.lookupWriter ?? (() => undefined),
    /** A model of one key's operations (checks/engine.mjs): transactions across keys are checked there. */
    slice: options.slice ?? false,
    /** Set by the feed check: every committed write's state is in feedChanges. */
    feedComplete: false,
  }
}

/** The follower's changes, one per seq (a redelivered seq counted once), in seq order. */
function uniqueFeedChanges(feed) {
  if (feed === undefined) return []
  const bySeq = new Map()
  for (const incarnation of feed.incarnations) {
    for (const change of incarnation.changes)
      if (!bySeq.has(change.seq)) bySeq.set(change.seq, change.d === undefined ? change : { ...change, d: normalize(change.d) })
  }
  return [...bySeq.values()].sort((x, y) => x.seq - y.seq)
}

/** Who wrote `value`: this model's index first, then the wider one. */
export function writerOf(model, value) {
  return model.writerOfValue.get(value) ?? model.lookupWriter(value)
}

/** The data part of a state, as a string that compares equal for equal states. */
export function stateKey(state) {
  return JSON.stringify([state.len, state.h, state.n ?? 0, state.a ?? null, state.b ?? null])
}
