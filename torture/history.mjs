// Turns a run directory's logs into the history the checker reads: the workers' operations with
// their outcomes, the follower's streams, the nemesis's faults and the final state.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { logExists, readLog } from './log.mjs'

async function loadWorker(path, ops, health) {
  const byId = new Map()
  let worker
  let incarnation
  const { torn } = await readLog(path, (e) => {
    switch (e.t) {
      case 'start':
        worker = e.w
        incarnation = e.inc
        break
      case 'inv': {
        const op = {
          id: e.id,
          session: `${worker}.${incarnation}.${e.c}`,
          inv: e.at,
          cmp: Infinity,
          status: 'unknown',
          kind: e.kind,
          txn: e.ops,
        }
        if (e.abort) op.abort = true
        byId.set(e.id, op)
        ops.push(op)
        break
      }
      case 'ok':
      case 'fail':
      case 'unk': {
        const op = byId.get(e.id)
        if (op === undefined) return void health.push({ what: 'log', detail: `${path}: a completion of ${e.id}, which was never invoked` })
        if (e.t === 'ok') Object.assign(op, { status: 'ok', cmp: e.at, res: e.res })
        else if (e.t === 'fail') Object.assign(op, { status: 'fail', cmp: e.at, error: { code: e.code, msg: e.msg } })
        else Object.assign(op, { error: { code: e.code, msg: e.msg }, errorAt: e.at })
        break
      }
      case 'crash':
        health.push({ what: 'crash', detail: `${worker} incarnation ${incarnation}: ${e.error?.code} ${e.error?.msg}` })
        break
    }
  })
  return torn
}

/**
 * The follower's streams: one per 'start' (a process incarnation, or a stream opened again after
 * a connection loss within one), each with its starting position, changes and acks.
 */
async function loadFollower(path, health) {
  const incarnations = []
  let current
  let interruptions = 0
  await readLog(path, (e) => {
    switch (e.t) {
      case 'boot':
        current = { incarnation: e.inc, position: undefined, changes: [], acks: [] }
        incarnations.push(current)
        break
      case 'start':
        if (current.position !== undefined) {
          current = { incarnation: current.incarnation, position: undefined, changes: [], acks: [] }
          incarnations.push(current)
        }
        current.position = e.position
        break
      case 'interrupted':
        interruptions++
        break
      case 'ch':
        current.changes.push(feedChange(e))
        break
      case 'ack':
        current.acks.push(e.seq)
        break
      case 'crash':
        health.push({ what: 'crash', detail: `follower incarnation ${current?.incarnation}: ${e.error?.code} ${e.error?.msg}` })
        break
    }
  })
  return { incarnations, interruptions }
}

/** A follower log's change line as the checker reads it (the data summary unpacked, see follower.mjs). */
export function feedChange(e) {
  const change = { seq: e.seq, c: e.c, id: e.id, op: e.op, v: e.v }
  if (Array.isArray(e.d)) {
    const [len, last, h, n, a, b] = e.d
    change.d = { len, last, h, n, a, b }
    if (e.dv !== undefined) change.dv = e.dv
  }
  return change
}

/** The worker names with a log in `logs` (w1, w2, ...), in order. */
export function workerNames(logs) {
  const names = new Set()
  for (const file of readdirSync(logs)) {
    const match = /^(w\d+)\.\d{4,}\.log(\.gz)?$/.exec(file)
    if (match !== null) names.add(match[1])
  }
  return [...names].sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)))
}

/** The final state the runner wrote: final.json (head, integrity) and final.jsonl (the records, in id order). */
export function finalHeader(dir) {
  const path = join(dir, 'final.json')
  return existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : undefined
}

async function loadFaults(path) {
  const faults = {}
  await readLog(path, (e) => {
    if (e.t !== 'fault') return
    const f = (faults[e.f] ??= { injected: 0 })
    f.injected++
    if (e.busy === 1 || e.error !== undefined) f.busyOrFailed = (f.busyOrFailed ?? 0) + 1
  })
  return faults
}

/** Reads `dir` (a run directory) into a history for check(). */
export async function loadHistory(dir) {
  const logs = join(dir, 'logs')
  const ops = []
  const health = []
  let torn = 0
  for (const name of workerNames(logs)) torn += await loadWorker(join(logs, `${name}.log`), ops, health)
  const feed = logExists(join(logs, 'follower.log')) ? await loadFollower(join(logs, 'follower.log'), health) : undefined
  const faults = logExists(join(logs, 'nemesis.log')) ? await loadFaults(join(logs, 'nemesis.log')) : {}
  const header = finalHeader(dir)
  let final
  if (header !== undefined) {
    const records = {}
    await readLog(join(dir, 'final.jsonl'), ({ id, ...record }) => void (records[id] = record))
    final = { ...header, records }
  }
  return { ops, final, feed, faults, health, tornLines: torn }
}
