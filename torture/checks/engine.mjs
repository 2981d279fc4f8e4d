// The checker's engine: it takes a history as it streams past (operations in invocation order,
// their outcomes, the follower's changes, the final records in key order) and keeps in memory
// only what can still interact.
//
// The generator gives every transaction keys from a sliding window (generator.mjs: `keys`
// consecutive keys, one retiring every `keyShiftMs`). So a key k stops being handed out at
// (k + 1) * keyShiftMs, and once that is `slackMs` past, every operation on k has been invoked; once
// they have all settled, the follower has delivered every change made up to then, and the final
// record of k is in, k is closed: its operations are checked as a history of their own with the
// whole-history checks (lists, counts, versions, the key's feed), and its dependency edges are
// added to the graph. A transaction is released when all its keys are closed (partial application
// is checked then); the graph is searched for cycles a window at a time (window.mjs) and
// transactions older than the window are dropped. Memory follows the window, the slack and the
// concurrency, not the length of the run.
//
// Without `keys` and `keyShiftMs` (hand-written histories), nothing closes before end(): the
// engine checks the whole history at once, as the checks always did.
import { buildModel, isWrite } from './model.mjs'
import { checkLists, checkPartial } from './lists.mjs'
import { checkCounts } from './counts.mjs'
import { checkVersions } from './versions.mjs'
import { checkKeyFeed } from './feed.mjs'
import { FeedStream } from './feed-stream.mjs'
import { inGraph, keyEdges } from './graph.mjs'
import { DEFAULT_WINDOW_MS, GraphWindow } from './window.mjs'

/** Something the engine cannot check in bounded memory; the message says what and what to do. */
export class BoundError extends Error {
  code = 'CHECK_UNBOUNDED'
  /** An operation or change came later than the slack allows: a longer slack would do. */
  late = false
}

/** After the last operation on a key settled, changes still reach the follower this late (µs): a commit sent just before a kill. */
const FEED_MARGIN_US = 2_000_000
export const DEFAULT_SLACK_MS = 10_000
const DEFAULT_MAX_HELD = 2_000_000

function late(error) {
  error.late = true
  return error
}

function keyNumber(k) {
  return /^k\d+$/.test(k) ? Number(k.slice(1)) : NaN
}

function keyLike(n, like) {
  return `k${String(n).padStart(like.length - 1, '0')}`
}

export class Engine {
  #collector
  #options
  #window
  #graph
  #feed
  /** Operations held: id → op. */
  #ops = new Map()
  /** Values written by held operations: value → { op, k, i, f, field }. */
  #values = new Map()
  /** Unsettled operations of each worker incarnation ('w1.3'). */
  #pending = new Map()
  #keys = new Map()
  #closedBelow = 0
  #time = 0
  #index = 0
  #feedKey = -Infinity
  #feedEnded = false
  #finalKey = -Infinity
  #finalEnded = false
  #heldPeak = 0
  #hangs = new Map()
  counts = { transactions: 0, ok: 0, failed: 0, unknown: 0, failedBy: {}, unknownBy: {}, microOps: 0 }

  /**
   * `collector`: checks/anomalies.mjs. Options: gapFreeSeq, realtime, finalKnown, head, hasFeed,
   * keys + keyShiftMs (the generator's window; both or neither), slackMs, windowMs (graph),
   * maxHeld (operations held at once before giving up), stragglers ([{ name, incarnation }]).
   */
  constructor(collector, options) {
    this.#collector = collector
    this.#options = options
    if (options.keys !== undefined && options.keyShiftMs !== undefined)
      this.#window = {
        keys: options.keys,
        shiftUs: options.keyShiftMs * 1000,
        slackUs: (options.slackMs ?? DEFAULT_SLACK_MS) * 1000,
      }
    this.#graph = new GraphWindow(collector, {
      realtime: options.realtime ?? true,
      windowMs: this.#window ? (options.windowMs ?? DEFAULT_WINDOW_MS) : undefined,
    })
    this.#feed = new FeedStream({
      report: (name, message) => collector.add(name, message),
      gapFreeSeq: options.gapFreeSeq ?? true,
      onChange: (change) => this.#change(change),
    })
    for (const { name, incarnation } of options.stragglers ?? []) this.#hangs.set(`${name}.${incarnation}`, [])
  }

  /** Most operations held at once. */
  get heldPeak() {
    return this.#heldPeak
  }

  get feed() {
    return this.#feed
  }

  /** The history has reached `at` (µs): every operation invoked before it is known. */
  time(at) {
    if (at > this.#time) this.#time = at
  }

  /** An operation starts: { id, session, inv, kind, abort?, txn }. */
  invoke(op) {
    this.time(op.inv)
    op.index = this.#index++
    op.status = 'unknown'
    op.cmp = Infinity
    op.keys = new Set()
    op.txn.forEach((m, i) => {
      if (m.f === 'readAll') {
        const lo = keyNumber(m.lo)
        const hi = keyNumber(m.hi)
        for (let n = lo; n < hi; n++) op.keys.add(keyLike(n, m.lo))
      } else op.keys.add(m.k)
      if (m.val !== undefined) this.#values.set(m.val, { op, k: m.k, i, f: m.f, field: m.field })
    })
    for (const k of op.keys) {
      const key = this.#key(k, () => `${op.id} (invoked ${(op.inv / 1e6).toFixed(1)} s into the run)`)
      key.ops.push(op)
      key.pending++
    }
    op.open = op.keys.size
    this.#ops.set(op.id, op)
    this.#heldPeak = Math.max(this.#heldPeak, this.#ops.size)
    if (this.#ops.size > (this.#options.maxHeld ?? DEFAULT_MAX_HELD)) {
      const oldest = [...this.#keys.values()].find((key) => key.pending > 0)
      throw new BoundError(
        `The checker holds ${this.#ops.size} operations at once (${(this.#time / 1e6).toFixed(0)} s into the run), more than --max-held allows: ${oldest === undefined ? 'the keys do not close' : `${oldest.k} waits for an operation that never settles`}. A history whose transactions all settle within the slack is checked in bounded memory whatever its length.`,
      )
    }
    this.#graph.add(op)
    const session = op.session.split('.').slice(0, 2).join('.')
    if (!this.#pending.has(session)) this.#pending.set(session, new Set())
    this.#pending.get(session).add(op)
  }

  /** An operation's outcome: { status: 'ok' | 'fail' | 'unknown', cmp?, res?, error?, errorAt? }. */
  settle(id, outcome) {
    const op = this.#ops.get(id)
    if (op === undefined) return false
    Object.assign(op, outcome)
    if (op.status !== 'ok' && op.status !== 'fail') op.cmp = Infinity
    this.time(outcome.cmp ?? outcome.errorAt ?? 0)
    this.#settle(op, outcome.cmp ?? outcome.errorAt ?? this.#time)
    return true
  }

  /** A worker incarnation ('w1.3') ended (it was killed, or stopped): what it left pending stays unknown. */
  sessionEnded(session, at) {
    for (const op of this.#pending.get(session) ?? []) this.#settle(op, at)
    this.#pending.delete(session)
  }

  /** A follower log entry (boot, start, ch, ack, interrupted). */
  feedEntry(entry) {
    this.#feed.entry(entry)
  }

  feedEnded() {
    this.#feedEnded = true
  }

  /** A final record { id, v, l, n, a, b }, in key order. */
  finalRecord({ id, ...record }) {
    this.#key(id, () => `the final record of ${id}`).final = record
    const n = keyNumber(id)
    if (n > this.#finalKey) this.#finalKey = n
  }

  finalEnded() {
    this.#finalEnded = true
  }

  /**
   * Closes every key it can, then searches the graph windows that are complete. Returns what it
   * needs to go on: 'feed' (more of the follower's log), 'final' (more final records), or
   * undefined (more operations, or nothing).
   */
  advance() {
    const w = this.#window
    if (w === undefined) return undefined
    for (;;) {
      const n = this.#closedBelow
      if (this.#time < (n + 1) * w.shiftUs + w.slackUs) break
      const k = keyLike(n, 'k000000')
      const key = this.#keys.get(k)
      if (key !== undefined && key.pending > 0) break
      if (this.#options.hasFeed && !this.#feedEnded) {
        // The follower has passed k once it delivered a change on a key first handed out after
        // k's last write had settled: seqs follow commit order.
        const settled = key?.settledAt ?? (n + 1) * w.shiftUs
        if ((this.#feedKey - w.keys + 1) * w.shiftUs <= settled + FEED_MARGIN_US) return 'feed'
      }
      if (this.#options.finalKnown && !this.#finalEnded && this.#finalKey <= n) return 'final'
      if (key !== undefined) this.#close(key)
      this.#closedBelow++
    }
    this.#graph.advance(this.#time, (ids) => this.#drop(ids))
    return undefined
  }

  /** The history is over: checks what is left and returns the feed's completeness. */
  end() {
    for (const session of [...this.#pending.keys()]) this.sessionEnded(session, Infinity)
    const streamComplete = this.#options.hasFeed ? this.#feed.end(this.#options.finalKnown ? this.#options.head : undefined) : false
    const keys = [...this.#keys.values()].sort((a, b) => keyNumber(a.k) - keyNumber(b.k) || (a.k < b.k ? -1 : a.k > b.k ? 1 : 0))
    for (const key of keys) this.#close(key, streamComplete)
    this.#graph.flush((ids) => this.#drop(ids))
    for (const [session, pending] of this.#hangs) {
      const [name, incarnation] = session.split('.')
      const stopAt = this.#options.stopAt ?? 0
      const listed = pending.map(
        (op) =>
          `${op.id} (invoked ${((stopAt - op.inv) / 1e6).toFixed(1)} s before the stop: ${op.txn.map((m) => `${m.f} ${m.k ?? ''}`).join(', ')})`,
      )
      this.#collector.add(
        'health',
        `hang: ${name} (incarnation ${incarnation}), asked to stop, logged nothing for ${(this.#options.hangMs ?? 15_000) / 1000} s and was killed; pending: ${listed.join('; ') || 'no transaction (stuck outside one)'}`,
      )
    }
    return streamComplete
  }

  #key(k, who) {
    let key = this.#keys.get(k)
    if (key !== undefined) return key
    const n = keyNumber(k)
    if (this.#window !== undefined && n < this.#closedBelow)
      throw late(
        new BoundError(
          `${who()} concerns ${k}, which left the generator's key window ${((this.#time - (n + 1) * this.#window.shiftUs) / 1e6).toFixed(1)} s earlier; the checker keeps a key open ${this.#window.slackUs / 1e6} s after that and had closed it. Check the run again with a longer slack: node torture/checker.mjs <run dir> --slack-ms ${4 * (this.#window.slackUs / 1000)}.`,
        ),
      )
    key = { k, ops: [], pending: 0, settledAt: 0, feed: [], final: undefined }
    this.#keys.set(k, key)
    return key
  }

  #settle(op, at) {
    const session = op.session.split('.').slice(0, 2).join('.')
    const pending = this.#pending.get(session)
    if (pending === undefined || !pending.delete(op)) return
    for (const k of op.keys) {
      const key = this.#keys.get(k)
      if (key === undefined) continue
      key.pending--
      key.settledAt = Math.max(key.settledAt, at)
    }
  }

  #change(change) {
    if (change.c !== 'kv') return
    this.#key(change.id, () => `change seq ${change.seq}`).feed.push(change)
    const n = keyNumber(change.id)
    if (n > this.#feedKey) this.#feedKey = n
  }

  /** Checks one key's operations, feed and final record as a history of their own, and adds its edges. */
  #close(key, streamComplete = this.#feed.completeSoFar) {
    this.#keys.delete(key.k)
    const ops = key.ops.map((op) => sliceOf(op, key.k))
    const history = {
      ops,
      final: this.#options.finalKnown
        ? { records: key.final === undefined ? {} : { [key.k]: key.final }, head: this.#options.head }
        : undefined,
      health: [],
    }
    const model = buildModel(history, {
      gapFreeSeq: this.#options.gapFreeSeq,
      feedChanges: key.feed,
      lookupWriter: (value) => this.#values.get(value),
      slice: true,
    })
    checkKeyFeed(model, this.#collector, { streamComplete: this.#options.hasFeed === true && streamComplete })
    checkLists(model, this.#collector)
    checkCounts(model, this.#collector)
    checkVersions(model, this.#collector)
    keyEdges(model)
    for (const sliced of model.ops) {
      const op = sliced.orig
      for (const m of sliced.txn) {
        if (m.val === undefined) continue
        if (model.seenValues.has(m.val)) (op.seen ??= new Set()).add(m.val)
        if (m.f === 'patch' && !model.feedComplete) (op.uncheckable ??= new Set()).add(m.val)
      }
      if (--op.open === 0) this.#release(op)
    }
  }

  /** Every key of `op` is closed: the checks across its keys, and its place in the graph. */
  #release(op) {
    const c = this.counts
    c.transactions++
    c.microOps += op.txn.length
    if (op.status === 'ok') c.ok++
    else if (op.status === 'fail') {
      c.failed++
      const code = op.error?.code ?? 'error'
      c.failedBy[code] = (c.failedBy[code] ?? 0) + 1
    } else {
      c.unknown++
      const code = op.error?.code ?? 'killed'
      c.unknownBy[code] = (c.unknownBy[code] ?? 0) + 1
      const session = op.session.split('.').slice(0, 2).join('.')
      const hang = this.#hangs.get(session)
      if (hang !== undefined && op.error === undefined && hang.length < 5) hang.push(op)
      checkPartial(
        op,
        (v) => op.seen?.has(v) ?? false,
        (m) => !(op.uncheckable?.has(m.val) ?? false),
        (name, message, ops) => this.#collector.add(name, message, ops),
      )
    }
    op.graph = inGraph(op)
    op.released = true
    // What only the checks above needed; the graph keeps the rest (txn and res describe a cycle).
    op.keys = op.seen = op.uncheckable = undefined
  }

  #drop(dropped) {
    for (const op of dropped) {
      this.#ops.delete(op.id)
      for (const m of op.txn) if (m.val !== undefined && this.#values.get(m.val)?.op === op) this.#values.delete(m.val)
    }
  }
}

/** `op` as seen from key k: its micro-ops on k only (a range read becomes a read of k), with their results. */
function sliceOf(op, k) {
  const txn = []
  const res = []
  op.txn.forEach((m, i) => {
    if (m.f === 'readAll') {
      const n = keyNumber(k)
      if (!(keyNumber(m.lo) <= n && n < keyNumber(m.hi))) return
      txn.push({ f: 'read', k })
      res.push(op.res?.[i]?.[k] ?? null)
    } else if (m.k === k) {
      txn.push(m)
      res.push(op.res?.[i])
    }
  })
  return {
    id: op.id,
    session: op.session,
    inv: op.inv,
    cmp: op.cmp,
    status: op.status,
    kind: op.kind,
    abort: op.abort,
    error: op.error,
    txn,
    res,
    orig: op,
  }
}

export { isWrite }
