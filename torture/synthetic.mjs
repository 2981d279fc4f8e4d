// Synthetic run directories for the checker's benchmark and tests: the workload of a real run
// (generator.mjs, the same key window, workers killed and restarted, a follower that restarts
// from its acknowledged position) against an in-memory store that applies each transaction at
// one instant between its invocation and its completion. The history is therefore strictly
// serializable, unless an anomaly is planted in it on purpose:
//   lostAt: S     the first append after S seconds is acknowledged, then lost: the next write to
//                 its key starts from the state before it (a lost update)
//   staleAt: S    the first lone read after S seconds, of a key whose last write completed before
//                 the read began, returns the version before that write (a stale read)
//
//   node torture/synthetic.mjs <dir> --seconds 60 [--procs 4] [--clients 2] [--seed 1]
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { summarize } from './digest.mjs'
import { createGenerator, keyWindow } from './generator.mjs'
import { SEGMENT_BYTES, segmentPath } from './log.mjs'
import { createRandom } from './random.mjs'
import { keyName } from './store.mjs'

/** A log written as a run's processes write theirs (segments of SEGMENT_BYTES), buffered. */
class SyntheticLog {
  #path
  #segment = 0
  #fd
  #size = 0
  #buffer = []
  #buffered = 0
  constructor(path) {
    this.#path = path
    this.#fd = openSync(segmentPath(path, 0), 'w')
  }
  write(entry) {
    const line = `${JSON.stringify(entry)}\n`
    this.#buffer.push(line)
    this.#buffered += line.length
    this.#size += line.length
    if (this.#buffered > 1 << 20) this.#flush()
    if (this.#size >= SEGMENT_BYTES) {
      this.#flush()
      closeSync(this.#fd)
      this.#fd = openSync(segmentPath(this.#path, ++this.#segment), 'w')
      this.#size = 0
    }
  }
  #flush() {
    writeSync(this.#fd, this.#buffer.join(''))
    this.#buffer = []
    this.#buffered = 0
  }
  close() {
    this.#flush()
    closeSync(this.#fd)
  }
}

/** A min-heap of [time, order, action]. */
class Events {
  #heap = []
  #order = 0
  push(time, action) {
    const heap = this.#heap
    heap.push([time, this.#order++, action])
    for (let i = heap.length - 1; i > 0;) {
      const p = (i - 1) >> 1
      if (less(heap[p], heap[i])) break
      ;[heap[p], heap[i]] = [heap[i], heap[p]]
      i = p
    }
  }
  pop() {
    const heap = this.#heap
    const top = heap[0]
    const last = heap.pop()
    if (heap.length > 0) {
      heap[0] = last
      for (let i = 0; ;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < heap.length && less(heap[l], heap[m])) m = l
        if (r < heap.length && less(heap[r], heap[m])) m = r
        if (m === i) break
        ;[heap[m], heap[i]] = [heap[i], heap[m]]
        i = m
      }
    }
    return top
  }
  get size() {
    return this.#heap.length
  }
}
const less = (a, b) => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1])

class Failure extends Error {
  constructor(code) {
    super(code)
    this.code = code
  }
}

const observe = (r) => (r === undefined ? null : { v: r.v, ...summarize(r) })

/** Writes a run directory in `dir` with `seconds` of synthetic history. Returns { transactions, changes }. */
export function synthesize(dir, options) {
  const { seconds, procs = 4, clients = 2, seed = 1, keys = 10, keyShiftMs = 100, killEveryMs = 1000 } = options
  const plant = { lostAt: options.lostAt, staleAt: options.staleAt }
  const endUs = seconds * 1e6
  const logs = join(dir, 'logs')
  mkdirSync(logs, { recursive: true })
  const random = createRandom(`${seed}/synthetic`)
  const events = new Events()
  const db = new Map()
  const prev = new Map()
  let lost
  let seq = 0
  let transactions = 0

  // The follower: every change as it commits, an ack every 50, a restart every ~10 s.
  const follower = new SyntheticLog(join(logs, 'follower.log'))
  let followerInc = 0
  let acked = 0
  const unacked = []
  const startFollower = (at) => {
    follower.write({ t: 'boot', w: 'follower', inc: followerInc, pid: 0, at })
    follower.write({ t: 'start', inc: followerInc, position: acked, at })
    for (const line of unacked) follower.write(line)
  }
  startFollower(0)
  const deliver = (change, at) => {
    const s = summarize(change.data)
    const line = { t: 'ch', seq: change.seq, c: 'kv', id: change.id, op: change.op, v: change.v, d: [s.len, s.last, s.h, s.n, s.a, s.b] }
    follower.write(line)
    unacked.push(line)
    if (unacked.length >= 50) {
      acked = line.seq
      unacked.length = 0
      follower.write({ t: 'ack', seq: acked, at })
    }
  }

  const execute = (txn, client, at) => {
    const staged = new Map()
    const get = (k) => (staged.has(k) ? staged.get(k) : db.get(k))
    const seen = new Map()
    const res = []
    const writes = []
    const write = (k, change) => {
      const current = get(k)
      if (current === undefined) throw new Failure('NOT_FOUND')
      let base = current
      if (lost?.k === k && lost.by !== txn.id && !lost.done) {
        base = { ...current, l: lost.before }
        lost.done = true
      }
      const next = change({ ...base, l: [...base.l] })
      next.v = current.v + 1
      staged.set(k, next)
      writes.push({ k, op: 'update', state: next, before: current })
      res.push({ v: next.v })
    }
    for (const m of txn.ops) {
      switch (m.f) {
        case 'create': {
          if (get(m.k) !== undefined) throw new Failure('DUPLICATE_ID')
          const state = { v: 1, l: [], n: 0, a: null, b: null }
          staged.set(m.k, state)
          writes.push({ k: m.k, op: 'insert', state })
          res.push({ v: 1 })
          break
        }
        case 'read': {
          let r = get(m.k)
          const p = prev.get(m.k)
          if (
            plant.staleAt !== undefined &&
            at >= plant.staleAt * 1e6 &&
            txn.ops.length === 1 &&
            p !== undefined &&
            p.doneAt < client.inv
          ) {
            r = p.state
            plant.staleAt = undefined
          }
          seen.set(m.k, r)
          res.push(observe(r))
          break
        }
        case 'readAll': {
          const out = {}
          for (let n = Number(m.lo.slice(1)); n < Number(m.hi.slice(1)); n++) {
            const r = get(keyName(n))
            if (r === undefined) continue
            seen.set(keyName(n), r)
            out[keyName(n)] = observe(r)
          }
          res.push(out)
          break
        }
        case 'append':
          write(m.k, (d) => ((d.l = [...d.l, m.val]), d))
          if (plant.lostAt !== undefined && at >= plant.lostAt * 1e6 && lost === undefined && txn.ops.length === 1)
            lost = { k: m.k, by: txn.id, before: get(m.k).l.slice(0, -1) }
          break
        case 'incr':
          write(m.k, (d) => ((d.n += 1), d))
          break
        case 'patch':
          write(m.k, (d) => ((d[m.field] = m.val), d))
          break
        case 'cas': {
          const s = seen.get(m.k)
          if (s === undefined) throw new Failure('TORTURE_MISSING')
          if (get(m.k)?.v !== s.v) throw new Failure('VERSION_CONFLICT')
          write(m.k, (d) => ((d.l = [...d.l, m.val]), d))
          break
        }
      }
    }
    if (txn.abort) throw new Failure('TORTURE_ABORT')
    return { res, writes }
  }

  const workers = Array.from({ length: procs }, (_, i) => ({
    name: `w${i + 1}`,
    inc: 0,
    log: new SyntheticLog(join(logs, `w${i + 1}.log`)),
    created: new Set(),
  }))

  const startWorker = (worker, at) => {
    worker.log.write({ t: 'start', w: worker.name, inc: worker.inc, pid: 0, at })
    worker.created = new Set()
    for (let c = 0; c < clients; c++) {
      const client = {
        worker,
        c,
        inc: worker.inc,
        queue: [],
        generator: createGenerator(createRandom(`${seed}/${worker.name}/${worker.inc}/${c}`), `${worker.name}.${worker.inc}.${c}.`),
      }
      events.push(at + random.int(100, 2000), (t) => invoke(client, t))
    }
  }
  const alive = (client) => client.inc === client.worker.inc

  const invoke = (client, t) => {
    if (!alive(client) || t >= endUs) return
    if (client.queue.length === 0) {
      const txn = client.generator.next(keyWindow(t / 1000, keys, keyShiftMs))
      for (const k of new Set(txn.ops.map((m) => m.k).filter((k) => k !== undefined && !client.worker.created.has(k))))
        client.queue.push(client.generator.create(k))
      client.queue.push(txn)
    }
    const txn = client.queue.shift()
    transactions++
    client.inv = t
    client.worker.log.write({
      t: 'inv',
      id: txn.id,
      c: client.c,
      at: t,
      kind: txn.kind,
      ...(txn.abort ? { abort: true } : {}),
      ops: txn.ops,
    })
    events.push(t + random.int(300, 3000), (at) => commit(client, txn, at))
  }

  const commit = (client, txn, at) => {
    if (!alive(client)) return // Killed before it committed: never applied.
    let outcome
    try {
      const { res, writes } = execute(txn, client, at)
      const doneAt = at + random.int(200, 1500)
      for (const w of writes) {
        if (w.before !== undefined) prev.set(w.k, { state: w.before, doneAt })
        db.set(w.k, w.state)
        deliver({ seq: ++seq, id: w.k, op: w.op, v: w.state.v, data: w.state }, at)
      }
      outcome = { t: 'ok', res, doneAt }
    } catch (error) {
      if (!(error instanceof Failure)) throw error
      outcome = { t: 'fail', code: error.code, msg: error.code, doneAt: at + random.int(200, 1500) }
    }
    events.push(outcome.doneAt, (t) => complete(client, txn, outcome, t))
  }

  const complete = (client, txn, outcome, t) => {
    if (!alive(client)) return // Killed after it committed: its outcome is unknown.
    const { doneAt, ...entry } = outcome
    client.worker.log.write({ ...entry, id: txn.id, at: t })
    if (txn.ops[0].f === 'create' && (outcome.t === 'ok' || outcome.code === 'DUPLICATE_ID')) client.worker.created.add(txn.ops[0].k)
    // A pause between transactions; with the times above, about 1,250 transactions a second on 4 x 2
    // clients, the rate of a real SQLite run on an idle 2-core machine.
    events.push(t + random.int(0, 7600), (at) => invoke(client, at))
  }

  for (const worker of workers) startWorker(worker, 0)
  const kill = (t) => {
    if (t >= endUs) return
    const worker = random.pick(workers)
    worker.inc++
    events.push(t + random.int(5000, 60000), (at) => startWorker(worker, at))
    events.push(t + killEveryMs * 1000 * (0.5 + random.next()), kill)
  }
  events.push(killEveryMs * 1000, kill)
  const restartFollower = (t) => {
    if (t >= endUs) return
    followerInc++
    startFollower(t)
    events.push(t + 10e6 * (0.5 + random.next()), restartFollower)
  }
  events.push(10e6, restartFollower)

  while (events.size > 0) {
    const [t, , action] = events.pop()
    action(t)
  }
  if (unacked.length > 0) follower.write({ t: 'ack', seq: unacked.at(-1).seq, at: endUs })
  follower.write({ t: 'end', last: seq, at: endUs })
  follower.close()
  for (const worker of workers) {
    worker.log.write({ t: 'end', at: endUs })
    worker.log.close()
  }
  const lines = [...db.keys()].sort().map((id) => {
    const r = db.get(id)
    return `${JSON.stringify({ id, v: r.v, l: r.l, n: r.n, a: r.a, b: r.b })}\n`
  })
  writeFileSync(join(dir, 'final.jsonl'), lines.join(''))
  writeFileSync(join(dir, 'final.json'), `${JSON.stringify({ head: seq, integrity: ['ok'], records: db.size, unread: 0 })}\n`)
  writeFileSync(
    join(dir, 'run.json'),
    `${JSON.stringify({ backend: 'sqlite', synthetic: true, seconds, procs, clients, seed, keys, keyShiftMs, killEveryMs, plant: options }, null, 2)}\n`,
  )
  return { transactions, changes: seq }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { parseArgs } = await import('node:util')
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      seconds: { type: 'string' },
      procs: { type: 'string' },
      clients: { type: 'string' },
      seed: { type: 'string' },
      'lost-at': { type: 'string' },
      'stale-at': { type: 'string' },
    },
  })
  const num = (v) => (v === undefined ? undefined : Number(v))
  const out = synthesize(positionals[0], {
    seconds: num(values.seconds) ?? 60,
    procs: num(values.procs),
    clients: num(values.clients),
    seed: num(values.seed),
    lostAt: num(values['lost-at']),
    staleAt: num(values['stale-at']),
  })
  process.stdout.write(`${JSON.stringify(out)}\n`)
}
