// Cross-process change delivery: commit in one process → change in another. Tandem's feed against
// two raw baselines measured in the same run: polling PRAGMA data_version every 1 ms, and fs.watch
// on the WAL alone. A third row is not a way to deliver changes but the machine's own floor: the
// writer sends each commit's number to the other process over a pipe, which reads nothing from the
// store; its tail is how late a sleeping process can be woken here at all.
// Goal (issue #3): p50 <= 0.2 ms, p99 <= 1 ms, zero missed, idle CPU < 1% of a core.
//
// Every method first gets WARMUP commits that count for "missed" but not for the percentiles: they
// are the subscriber's cold start, while V8 still compiles its delivery path on a background
// thread (that compiler's memory is most of the process's page faults then, and a page fault costs
// ~10 µs on this VM, sometimes milliseconds). The goal is about a subscriber that runs, as a daemon
// does; the cold figures are printed beside it, never hidden.
import { fork } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { openStore } from '../dist/index.js'
import { childInbox, tempDir } from './lib.mjs'

const COUNT = 3000
const WARMUP = 1000
const GAP_MS = 2
const IDLE_MS = 3000
const now = () => performance.timeOrigin + performance.now()
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

async function run(method) {
  const { dir, remove } = tempDir()
  const path = join(dir, 'feed.db')
  const store = await openStore({ path, role: 'writer', collections: { events: { writers: '*' } } })
  const child = fork(new URL('./change-latency-worker.mjs', import.meta.url), [
    JSON.stringify({ path, method, count: WARMUP + COUNT, idleMs: IDLE_MS }),
  ])
  const { next } = childInbox(child)
  await next('ready')
  await sleep(100)
  const committed = []
  for (let i = 0; i < WARMUP + COUNT; i++) {
    await store.collection('events').insert({ i })
    committed[i] = now()
    if (method === 'pipe') child.send({ type: 'tick', i })
    await sleep(GAP_MS * (0.5 + Math.random()))
  }
  await sleep(200)
  if (method === 'watch' || method === 'pipe') child.send('stop')
  const done = await next('done')
  child.disconnect?.()
  await store.close()
  remove()
  const arrivals = new Map(done.arrivals)
  const latencies = []
  const cold = []
  let missed = 0
  for (let i = 0; i < WARMUP + COUNT; i++) {
    const at = arrivals.get(i)
    if (at === undefined) missed++
    else (i < WARMUP ? cold : latencies).push(Math.max(0, at - committed[i]))
  }
  latencies.sort((a, b) => a - b)
  cold.sort((a, b) => a - b)
  // Later than half the gap: delivered only by the next write's wake-up, or by a fallback.
  const lateIn = (values) => values.filter((ms) => ms > GAP_MS * 0.5).length
  return {
    method,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies.at(-1),
    missed,
    late: lateIn(latencies),
    idleCpu: done.idleCpu,
    coldP99: percentile(cold, 99),
    coldLate: lateIn(cold),
  }
}

export async function changeLatency() {
  const results = []
  for (const method of ['tandem', 'poll', 'watch', 'pipe']) results.push(await run(method))
  const label = {
    tandem: 'Tandem store.changes()',
    poll: 'raw: poll data_version every 1 ms',
    watch: 'raw: fs.watch on the WAL alone',
    pipe: 'floor: a pipe message, no store read',
  }
  console.log(
    `\nCross-process change delivery, ${COUNT} commits ~${GAP_MS} ms apart after ${WARMUP} warm-up commits (latency: commit resolved → subscriber has the change)`,
  )
  console.log(
    `  ${'method'.padEnd(36)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'max ms'.padStart(7)} ${'missed'.padStart(7)} ${'late'.padStart(6)} ${'idle CPU'.padStart(9)}  ${'warm-up: p99 ms, late'.padStart(22)}`,
  )
  for (const r of results) {
    const cpu = r.method === 'watch' || r.method === 'pipe' ? '-' : `${(r.idleCpu * 100).toFixed(2)}%`
    console.log(
      `  ${label[r.method].padEnd(36)} ${r.p50.toFixed(3).padStart(7)} ${r.p99.toFixed(3).padStart(7)} ${r.max.toFixed(2).padStart(7)} ${String(r.missed).padStart(7)} ${String(r.late).padStart(6)} ${cpu.padStart(9)}  ${`${r.coldP99.toFixed(3)}, ${r.coldLate}`.padStart(22)}`,
    )
  }
  const t = results[0]
  const pass = t.p50 <= 0.2 && t.p99 <= 1 && t.missed === 0 && t.idleCpu < 0.01
  console.log(`  goal: p50 <= 0.2 ms, p99 <= 1 ms, 0 missed, idle CPU < 1% → ${pass ? 'PASS' : 'MISS'}`)
  return { name: 'change-latency', results, pass }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await changeLatency()
