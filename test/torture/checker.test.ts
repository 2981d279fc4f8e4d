import { describe, expect, test } from 'vitest'
import {
  check,
  type AnomalyClass,
  type FeedChange,
  type History,
  type HistoryOp,
  type MicroOp,
  type RecordState,
} from '../../torture/checker.mjs'

// The torture checker must be able to fail. Each test builds a small history that a correct store
// could produce (by running the transactions one after another on an in-memory model), plants one
// anomaly in it, and expects the checker to report it in its class. The clean history must come
// out clean, or the planted ones prove nothing.

interface Planned {
  id: string
  txn: MicroOp[]
  /** Default 'ok'. 'fail': not applied. 'unknown': applied, but its outcome never reported. */
  status?: 'ok' | 'fail' | 'unknown'
  abort?: boolean
  /** Run concurrently with the previous transaction (overlapping times) instead of after it. */
  overlap?: boolean
}

type State = { v: number; l: string[]; n: number; a: string | null; b: string | null }

/** Runs `plan` serially on an in-memory store and records what a perfect store would have logged. */
function simulate(plan: Planned[]): History {
  const db = new Map<string, State>()
  const changes: FeedChange[] = []
  const ops: HistoryOp[] = []
  let clock = 100
  const write = (k: string, change: (s: State) => void): { v: number } => {
    const s = db.get(k)!
    change(s)
    s.v++
    changes.push({ seq: changes.length + 1, c: 'kv', id: k, op: 'update', v: s.v, d: { l: [...s.l], n: s.n, a: s.a, b: s.b } })
    return { v: s.v }
  }
  for (const p of plan) {
    const status = p.status ?? 'ok'
    const inv = p.overlap ? clock - 15 : clock
    clock += 10
    const res: HistoryOp['res'] = []
    if (status !== 'fail') {
      for (const m of p.txn) {
        if (m.f === 'create') {
          db.set(m.k, { v: 1, l: [], n: 0, a: null, b: null })
          changes.push({ seq: changes.length + 1, c: 'kv', id: m.k, op: 'insert', v: 1, d: { l: [], n: 0, a: null, b: null } })
          res.push({ v: 1 })
        } else if (m.f === 'read') {
          const s = db.get(m.k)
          res.push(s === undefined ? null : { ...s, l: [...s.l] })
        } else if (m.f === 'append' || m.f === 'cas') res.push(write(m.k, (s) => s.l.push(m.val)))
        else if (m.f === 'incr') res.push(write(m.k, (s) => s.n++))
        else if (m.f === 'patch') res.push(write(m.k, (s) => (s[m.field] = m.val)))
      }
    }
    const op: HistoryOp = { id: p.id, session: `s.${p.id}`, inv, status, kind: p.txn.length > 1 ? 'tx' : 'direct', txn: p.txn }
    if (p.abort) op.abort = true
    if (status === 'ok') Object.assign(op, { cmp: clock, res })
    if (status === 'fail') Object.assign(op, { cmp: clock, error: { code: p.abort ? 'TORTURE_ABORT' : 'VERSION_CONFLICT' } })
    clock += 10
    ops.push(op)
  }
  const records: Record<string, RecordState> = {}
  for (const [k, s] of db) records[k] = { ...s, l: [...s.l] }
  return { ops, final: { head: changes.length, records }, feed: { incarnations: [{ position: 0, changes, acks: [] }] } }
}

/** A history with a bit of everything: creates, appends, increments, patches, reads, a rollback. */
function cleanPlan(): Planned[] {
  return [
    { id: 'c1', txn: [{ f: 'create', k: 'k1' }] },
    { id: 'c2', txn: [{ f: 'create', k: 'k2' }] },
    {
      id: 't1',
      txn: [
        { f: 'append', k: 'k1', val: 'x1' },
        { f: 'append', k: 'k2', val: 'y1' },
      ],
    },
    {
      id: 't2',
      txn: [
        { f: 'read', k: 'k1' },
        { f: 'cas', k: 'k1', val: 'x2' },
        { f: 'incr', k: 'k2' },
      ],
    },
    {
      id: 't3',
      txn: [
        { f: 'patch', k: 'k1', field: 'a', val: 'p1' },
        { f: 'append', k: 'k2', val: 'y2' },
      ],
    },
    {
      id: 'bad',
      txn: [
        { f: 'append', k: 'k1', val: 'zz' },
        { f: 'patch', k: 'k2', field: 'b', val: 'pz' },
      ],
      status: 'fail',
      abort: true,
    },
    {
      id: 'r1',
      txn: [
        { f: 'read', k: 'k1' },
        { f: 'read', k: 'k2' },
      ],
    },
    {
      id: 't4',
      txn: [
        { f: 'append', k: 'k1', val: 'x3' },
        { f: 'incr', k: 'k1' },
      ],
    },
    { id: 'r2', txn: [{ f: 'read', k: 'k1' }] },
  ]
}

function found(history: History): AnomalyClass[] {
  const report = check(history)
  return (Object.keys(report.anomalies) as AnomalyClass[]).filter((name) => report.anomalies[name].count > 0)
}

const opById = (h: History, id: string) => h.ops.find((o) => o.id === id)!
const record = (h: History, k: string) => h.final!.records[k]!

describe('the torture checker', () => {
  test('reports a history a correct store could produce as clean', () => {
    const report = check(simulate(cleanPlan()))
    expect(report.anomalyCount, JSON.stringify(report.anomalies, null, 1)).toBe(0)
    expect(report.counts).toMatchObject({ transactions: 9, ok: 8, failed: 1, unknown: 0 })
    expect(report.feed.complete).toBe(true)
  })

  test('reports an acknowledged append missing from the final state as a lost update', () => {
    const h = simulate(cleanPlan())
    // t1's append of y1 to k2 vanished from the end state (and from the feed's last entry of k2).
    record(h, 'k2').l = ['y2']
    const report = check(h)
    expect(report.anomalies['lost-update'].count).toBeGreaterThan(0)
    expect(report.anomalies['lost-update'].examples[0]!.message).toContain('y1')
    expect(report.anomalies['lost-update'].examples[0]!.ops[0]).toContain('t1 ok')
  })

  test('reports a lost increment as a lost update', () => {
    const h = simulate(cleanPlan())
    record(h, 'k1').n = 0
    expect(found(h)).toContain('lost-update')
  })

  test('reports a read of a rolled-back write as an aborted read (G1a)', () => {
    const h = simulate(cleanPlan())
    // r1 saw the patch of the transaction that rolled back.
    const r1 = opById(h, 'r1')
    ;(r1.res![1] as RecordState).b = 'pz'
    const report = check(h)
    expect(report.anomalies['aborted-read'].count).toBeGreaterThan(0)
    expect(report.anomalies['aborted-read'].examples.map((e) => e.message).join('\n')).toContain('bad, which failed')
  })

  test('reports a read of an intermediate state as G1b', () => {
    const h = simulate([
      { id: 'c1', txn: [{ f: 'create', k: 'k1' }] },
      {
        id: 't1',
        txn: [
          { f: 'append', k: 'k1', val: 'x1' },
          { f: 'append', k: 'k1', val: 'x2' },
        ],
      },
      { id: 'r1', txn: [{ f: 'read', k: 'k1' }] },
    ])
    const r1 = opById(h, 'r1')
    r1.res![0] = { v: 2, l: ['x1'], n: 0, a: null, b: null }
    expect(found(h)).toContain('intermediate-read')
  })

  test('reports two transactions whose appends land in opposite orders on two keys as an order cycle (G0)', () => {
    const h = simulate([
      { id: 'c1', txn: [{ f: 'create', k: 'k1' }] },
      { id: 'c2', txn: [{ f: 'create', k: 'k2' }] },
      {
        id: 't1',
        txn: [
          { f: 'append', k: 'k1', val: 'x1' },
          { f: 'append', k: 'k2', val: 'y1' },
        ],
      },
      {
        id: 't2',
        txn: [
          { f: 'append', k: 'k1', val: 'x2' },
          { f: 'append', k: 'k2', val: 'y2' },
        ],
        overlap: true,
      },
    ])
    // k2 ends with t2's value before t1's, while k1 has t1's first: each transaction came first.
    record(h, 'k2').l = ['y2', 'y1']
    const t1 = opById(h, 't1')
    const t2 = opById(h, 't2')
    t1.res![1] = { v: 3 }
    t2.res![1] = { v: 2 }
    delete h.feed // The feed would also disagree; this test is about the lists.
    const report = check(h)
    expect(found(h)).toEqual(['order-cycle'])
    expect(report.anomalies['order-cycle'].examples[0]!.message).toMatch(/G0.*t1 -ww-> t2 -ww-> t1|G0.*t2 -ww-> t1 -ww-> t2/)
  })

  test('reports a read that is not a prefix of the final list as an incompatible order', () => {
    const h = simulate(cleanPlan())
    const r2 = opById(h, 'r2')
    ;(r2.res![0] as RecordState).l = ['x2', 'x1', 'x3']
    expect(found(h)).toContain('order-cycle')
  })

  test('reports a read that saw one write of a transaction and missed another as read skew (G-single)', () => {
    const h = simulate([
      { id: 'c1', txn: [{ f: 'create', k: 'k1' }] },
      { id: 'c2', txn: [{ f: 'create', k: 'k2' }] },
      {
        id: 'r1',
        txn: [
          { f: 'read', k: 'k1' },
          { f: 'read', k: 'k2' },
        ],
      },
      {
        id: 't1',
        txn: [
          { f: 'append', k: 'k1', val: 'x1' },
          { f: 'append', k: 'k2', val: 'y1' },
        ],
        overlap: true,
      },
    ])
    // r1 saw t1's append to k2 but not the one to k1: a fractured snapshot.
    const r1 = opById(h, 'r1')
    r1.res![1] = { v: 2, l: ['y1'], n: 0, a: null, b: null }
    expect(found(h)).toContain('read-skew')
  })

  test('reports a unique value present twice as a duplicated application', () => {
    const h = simulate(cleanPlan())
    record(h, 'k1').l = ['x1', 'x2', 'x2', 'x3']
    expect(found(h)).toContain('duplicate')
  })

  test('reports a version that goes backwards in real time', () => {
    const h = simulate(cleanPlan())
    // r2 began after t4 completed (having written k1 v5), yet read k1 at version 4.
    const r2 = opById(h, 'r2')
    r2.res![0] = { v: 4, l: ['x1', 'x2', 'x3'], n: 0, a: 'p1', b: null }
    const report = check(h)
    expect(report.anomalies.version.count).toBeGreaterThan(0)
    expect(report.anomalies.version.examples.map((e) => e.message).join('\n')).toContain('went backwards')
  })

  test('reports two acknowledged writes claiming the same version', () => {
    const h = simulate(cleanPlan())
    opById(h, 't4').res![0] = { v: 3 }
    expect(found(h)).toContain('version')
  })

  test('reports a change-feed gap and a repeat', () => {
    const gap = simulate(cleanPlan())
    gap.feed!.incarnations[0]!.changes.splice(4, 1)
    const gapReport = check(gap)
    expect(gapReport.anomalies.feed.count).toBeGreaterThan(0)
    expect(gapReport.anomalies.feed.examples[0]!.message).toMatch(/skipped/)

    const repeat = simulate(cleanPlan())
    const changes = repeat.feed!.incarnations[0]!.changes
    changes.splice(5, 0, changes[4]!)
    expect(found(repeat)).toEqual(['feed'])
  })

  test('reports a follower that resumed before its acknowledged position', () => {
    const h = simulate(cleanPlan())
    const all = h.feed!.incarnations[0]!.changes
    h.feed!.incarnations = [
      { position: 0, changes: all.slice(0, 6), acks: [6] },
      { position: 3, changes: all.slice(3), acks: [] },
    ]
    expect(found(h)).toEqual(['feed'])
  })

  test('accepts a restarted follower that gets unacknowledged changes again (at-least-once)', () => {
    const h = simulate(cleanPlan())
    const all = h.feed!.incarnations[0]!.changes
    h.feed!.incarnations = [
      { position: 0, changes: all.slice(0, 6), acks: [3] },
      { position: 3, changes: all.slice(3), acks: [] },
    ]
    expect(found(h)).toEqual([])
  })

  test('accepts an unknown outcome applied entirely or not at all, and reports one applied in part', () => {
    const plan = cleanPlan()
    plan.splice(4, 0, {
      id: 'u1',
      txn: [
        { f: 'append', k: 'k1', val: 'u1a' },
        { f: 'append', k: 'k2', val: 'u1b' },
      ],
      status: 'unknown',
    })
    expect(found(simulate(plan))).toEqual([])

    const none = cleanPlan()
    none.splice(4, 0, {
      id: 'u1',
      txn: [
        { f: 'append', k: 'k1', val: 'u1a' },
        { f: 'append', k: 'k2', val: 'u1b' },
      ],
      status: 'fail',
    })
    const absent = simulate(none)
    Object.assign(opById(absent, 'u1'), { status: 'unknown', cmp: undefined, error: undefined })
    expect(found(absent)).toEqual([])

    // Planted after every read of k2, so only the final state can tell whether u1b is there.
    const late = cleanPlan()
    late.push({
      id: 'u1',
      txn: [
        { f: 'append', k: 'k1', val: 'u1a' },
        { f: 'append', k: 'k2', val: 'u1b' },
      ],
      status: 'unknown',
    })
    const partial = simulate(late)
    const k2 = record(partial, 'k2')
    k2.l = k2.l!.filter((v) => v !== 'u1b')
    k2.v--
    delete partial.feed
    expect(found(partial)).toEqual(['partial'])
  })

  test('reports health problems the runner found', () => {
    const h = simulate(cleanPlan())
    h.health = [{ what: 'integrity', detail: 'integrity check: *** in database main ***' }]
    expect(found(h)).toEqual(['health'])
  })
})
