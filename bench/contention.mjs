// Benchmark 3: contention and fairness. Four forked processes each keep exactly one increment of
// one hot record in flight for a fixed time; first through Tandem (`update`), then through raw
// better-sqlite3 (BEGIN IMMEDIATE; SELECT; UPDATE; COMMIT with busy_timeout 5000), then raw doing
// the SQL Tandem does (the same plus the change-log row): the ceiling for Tandem's throughput.
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ceilingCell, formatMs, formatRate, log, runWorkers, openRaw, openTandem, resultRow } from './lib.mjs'

const WORKER = fileURLToPath(new URL('./contention-worker.mjs', import.meta.url))

async function seed(mode, path) {
  if (mode !== 'tandem') {
    const db = openRaw(path)
    db.prepare("INSERT INTO items (id, version, created_at, updated_at, role, data) VALUES ('hot', 1, 0, 0, 'bench', ?)").run(
      JSON.stringify({ n: 0 }),
    )
    db.close()
  } else {
    const store = await openTandem(path)
    await store.collection('items').insert({ n: 0 }, { id: 'hot' })
    await store.close()
  }
}

async function finalCount(mode, path) {
  if (mode !== 'tandem') {
    const db = openRaw(path)
    const n = JSON.parse(db.prepare("SELECT data FROM items WHERE id = 'hot'").get().data).n
    db.close()
    return n
  }
  const store = await openTandem(path)
  const n = (await store.collection('items').get('hot')).data.n
  await store.close()
  return n
}

/** Forks `processes` workers, starts them together with an IPC 'go', and collects their results. */
function summarize(results, durationMs) {
  const counted = results.reduce((sum, r) => sum + r.counted, 0)
  return {
    perSecond: counted / (durationMs / 1000),
    slowestShare: Math.min(...results.map((r) => r.counted)) / counted,
    maxLatencyMs: Math.max(...results.map((r) => r.maxLatencyMs)),
    p99LatencyMs: Math.max(...results.map((r) => r.p99LatencyMs)),
    p999LatencyMs: Math.max(...results.map((r) => r.p999LatencyMs)),
    // Times the hot record's lock passed from one process to another.
    handoffs: results.reduce((sum, r) => sum + r.switches, 0),
    busyErrors: results.reduce((sum, r) => sum + r.busyErrors, 0),
    completed: results.reduce((sum, r) => sum + r.completed, 0),
    cpuPercent: (results.reduce((sum, r) => sum + r.cpuMs, 0) / durationMs) * 100,
    perProcess: results.map((r) => r.counted),
  }
}

async function measure(mode, dir, processes, durationMs) {
  const path = join(dir, `contention-${mode}.db`)
  await seed(mode, path)
  const results = await runWorkers(WORKER, processes, () => ({ mode, path, durationMs }))
  const summary = summarize(results, durationMs)
  // No lost update: the counter holds exactly the number of increments that committed.
  const n = await finalCount(mode, path)
  if (n !== summary.completed)
    throw new Error(`${mode}: the hot record says ${n} increments, the workers committed ${summary.completed}: lost updates`)
  return { ...summary, results }
}

export async function runContention({ dir, processes = 4, durationMs = 6000 }) {
  log(`contention: ${processes} processes x ${durationMs / 1000} s, Tandem, then raw, then raw with the change-log row`)
  const tandem = await measure('tandem', dir, processes, durationMs)
  const raw = await measure('raw', dir, processes, durationMs)
  const rawLog = await measure('rawlog', dir, processes, durationMs)
  const share = (s) => `${(s * 100).toFixed(1)}%`
  const detail = (s) =>
    `per process ${s.perProcess.join('/')}, latency p99 ${formatMs(s.p99LatencyMs)} p99.9 ${formatMs(s.p999LatencyMs)} max ${formatMs(s.maxLatencyMs)}, ` +
    `${s.handoffs} handoffs, CPU ${s.cpuPercent.toFixed(0)}% of a core`
  log(`  tandem: ${formatRate(tandem.perSecond)}, ${detail(tandem)}`)
  log(`  raw:    ${formatRate(raw.perSecond)}, ${detail(raw)}, ${raw.busyErrors} SQLITE_BUSY escaped`)
  log(`  raw + change-log row: ${formatRate(rawLog.perSecond)}, ${detail(rawLog)}, ${rawLog.busyErrors} SQLITE_BUSY escaped`)
  const ratio = tandem.perSecond / raw.perSecond
  return {
    rows: [
      resultRow({
        name: `3. contention: total increments/s (${processes} procs, 1 in flight each)`,
        tandem: formatRate(tandem.perSecond),
        raw: formatRate(raw.perSecond),
        ratio: `${ratio.toFixed(2)}x`,
        goal: '>= 0.5x raw',
        pass: ratio >= 0.5,
        ceiling: ceilingCell(tandem.perSecond, rawLog.perSecond),
      }),
      resultRow({
        name: '3. contention: slowest process share',
        tandem: share(tandem.slowestShare),
        raw: share(raw.slowestShare),
        ratio: '',
        goal: '>= 15%',
        pass: tandem.slowestShare >= 0.15,
        ceiling: share(rawLog.slowestShare),
      }),
      resultRow({
        name: '3. contention: worst increment latency',
        tandem: formatMs(tandem.maxLatencyMs),
        raw: formatMs(raw.maxLatencyMs),
        ratio: '',
        goal: '< 50 ms',
        pass: tandem.maxLatencyMs < 50,
        ceiling: formatMs(rawLog.maxLatencyMs),
      }),
      resultRow({
        name: '3. contention: SQLITE_BUSY escaped to the caller',
        tandem: String(tandem.busyErrors),
        raw: String(raw.busyErrors),
        ratio: '',
        goal: 'none (Tandem)',
        pass: tandem.busyErrors === 0,
      }),
    ],
    details: { tandem, raw, rawLog },
  }
}
