// Turns a run directory's logs into the history the checker reads: the workers' operations with
// their outcomes, the follower's streams, the nemesis's faults and the final state.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { readLog } from './log.mjs'

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
        current.changes.push({ seq: e.seq, c: e.c, id: e.id, op: e.op, v: e.v, d: e.d })
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
  for (const file of readdirSync(logs)
    .filter((f) => /^w\d+\.log$/.test(f))
    .sort())
    torn += await loadWorker(join(logs, file), ops, health)
  const feed = existsSync(join(logs, 'follower.log')) ? await loadFollower(join(logs, 'follower.log'), health) : undefined
  const faults = existsSync(join(logs, 'nemesis.log')) ? await loadFaults(join(logs, 'nemesis.log')) : {}
  const finalPath = join(dir, 'final.json')
  const final = existsSync(finalPath) ? JSON.parse(readFileSync(finalPath, 'utf8')) : undefined
  return { ops, final, feed, faults, health, tornLines: torn }
}
