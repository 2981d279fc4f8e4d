// PostgreSQL benchmark 3: cross-process change delivery, commit in one process -> change in
// another. Tandem: this process inserts into a PostgreSQL store, a forked one follows
// `store.changes()`. Raw baseline: INSERT and NOTIFY in one transaction, and a LISTENing
// connection in the other process that takes the change from the notification's payload (no
// read at all). Latency runs from the commit resolving to the subscriber having the change.
// Goal (issue #6): Tandem p99 <= 2 ms, none missed.
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { childInbox, log, resultRow, sampleData } from './lib.mjs'
import { benchSchema, createRawTable, dropSchemas, openPgTandem, rawClient } from './pg-lib.mjs'

const WORKER = fileURLToPath(new URL('./pg-change-latency-worker.mjs', import.meta.url))
const COUNT = 1000
const GAP_MS = 2
const now = () => performance.timeOrigin + performance.now()
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

/** The writer's side: a function that commits change `i` and resolves once it is committed. */
async function writer(method, schema, channel) {
  if (method === 'tandem') {
    const store = await openPgTandem(schema, { role: 'writer' })
    const items = store.collection('items')
    return { commit: (i) => items.insert({ ...sampleData(i), i }), close: () => store.close() }
  }
  await createRawTable(schema)
  const client = await rawClient('tandem-bench-raw-notify')
  let n = 0
  return {
    // One transaction: the row and the notification, delivered by PostgreSQL at commit.
    commit: (i) =>
      client.query(
        `BEGIN; INSERT INTO "${schema}".items VALUES ('r${++n}', 1, 0, 0, 'bench', '${JSON.stringify({ ...sampleData(i), i }).replaceAll("'", "''")}'); SELECT pg_notify('${channel}', '${i}'); COMMIT`,
      ),
    close: () => client.end(),
  }
}

async function run(method) {
  const schema = benchSchema(`feed_${method}`)
  const channel = `${schema}_raw`
  const side = await writer(method, schema, channel)
  const child = fork(WORKER, [JSON.stringify({ method, schema, channel, count: COUNT })], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const { next } = childInbox(child)
  try {
    await next('ready')
    // Warm-up commits (negative i, not counted) until the subscriber is surely listening.
    for (let i = -20; i < 0; i++) {
      await side.commit(i)
      await sleep(10)
    }
    const committed = []
    for (let i = 0; i < COUNT; i++) {
      await side.commit(i)
      committed[i] = now()
      await sleep(GAP_MS * (0.5 + Math.random()))
    }
    const done = await Promise.race([next('done'), sleep(10_000).then(() => ({ arrivals: [] }))])
    const arrivals = new Map(done.arrivals)
    const latencies = []
    let missed = 0
    for (let i = 0; i < COUNT; i++) {
      const at = arrivals.get(i)
      if (at === undefined) missed++
      else latencies.push(Math.max(0, at - committed[i]))
    }
    latencies.sort((a, b) => a - b)
    return { method, p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1), missed }
  } finally {
    if (child.exitCode === null) child.kill()
    await side.close()
    await dropSchemas(schema)
  }
}

export async function runPostgresChangeLatency() {
  log(`postgres change delivery: ${COUNT} commits ~${GAP_MS} ms apart, Tandem then raw LISTEN/NOTIFY`)
  const tandem = await run('tandem')
  const raw = await run('raw')
  const figure = (r) => `p50 ${r.p50.toFixed(2)} / p99 ${r.p99.toFixed(2)} ms`
  for (const r of [tandem, raw]) log(`  ${r.method.padEnd(6)} ${figure(r)}, max ${r.max.toFixed(2)} ms, ${r.missed} missed`)
  return {
    rows: [
      resultRow({
        name: 'pg 3. change feed: commit -> other process sees it',
        tandem: `${figure(tandem)}, ${tandem.missed} missed`,
        raw: `${figure(raw)} (LISTEN, payload only)`,
        ratio: '',
        goal: 'p99 <= 2 ms, 0 missed',
        pass: tandem.p99 <= 2 && tandem.missed === 0,
      }),
    ],
    details: { tandem, raw },
  }
}
