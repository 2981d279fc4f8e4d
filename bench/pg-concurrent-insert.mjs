// PostgreSQL benchmark 2: many inserts in flight at once in one process. Tandem's write queue runs
// them up to 1000 per transaction (group commit); the raw baseline is node-postgres autocommit
// INSERTs, each its own transaction and WAL flush, one at a time on one connection (the issue's
// "~3,000/s"). Also measured, for scale: raw autocommit INSERTs issued as fast as a pool of the same
// size as Tandem's (5 connections) takes them, where PostgreSQL merges the concurrent WAL flushes
// itself. Rounds alternate between the sides; figures are medians.
// Goal (issue #6): Tandem >= 5x raw autocommit inserts.
import pg from 'pg'
import { formatRate, log, median, rateFor, resultRow, sampleData } from './lib.mjs'
import { benchSchema, createRawTable, dropSchemas, openPgTandem, PG_URL, rawClient, TYPES } from './pg-lib.mjs'

const BURST = 10_000
const WINDOW = 1000
const ROUND_MS = 1500
const ROUNDS = 3
const POOL_SIZE = 5

/** Issues BURST inserts at once, awaits them all, repeats until `ms` passed. Returns inserts/s. */
async function burstRate(insert, ms) {
  const started = performance.now()
  let n = 0
  do {
    const inserts = []
    for (let i = 0; i < BURST; i++) inserts.push(insert(sampleData(n + i)))
    await Promise.all(inserts)
    n += BURST
  } while (performance.now() - started < ms)
  return n / ((performance.now() - started) / 1000)
}

/** Keeps WINDOW inserts in flight for `ms`: each one that resolves is replaced by a new one. */
async function windowRate(insert, ms) {
  const started = performance.now()
  const end = started + ms
  let n = 0
  const lane = async () => {
    while (performance.now() < end) await insert(sampleData(n++))
  }
  await Promise.all(Array.from({ length: WINDOW }, lane))
  return n / ((performance.now() - started) / 1000)
}

/** A raw autocommit insert on `queryable` (a pool or one client); ids never repeat. */
function rawInsert(queryable, schema, prefix) {
  const statement = {
    name: 'raw_insert',
    text: `INSERT INTO "${schema}".items (id, version, created_at, updated_at, role, data) VALUES ($1, 1, $2, $2, 'bench', $3)`,
  }
  let n = 0
  return (data) => {
    const now = Date.now()
    return queryable.query({ ...statement, values: [`${prefix}-${String(++n).padStart(12, '0')}`, now, JSON.stringify(data)] })
  }
}

export async function runPostgresConcurrentInsert() {
  log(
    `postgres concurrent inserts: bursts of ${BURST.toLocaleString('en')} and a window of ${WINDOW} in flight, ${ROUNDS} rounds of ${ROUND_MS} ms`,
  )
  const schemas = { tandem: benchSchema('ins_tandem'), raw: benchSchema('ins_raw') }
  await createRawTable(schemas.raw)
  const store = await openPgTandem(schemas.tandem, { poolSize: POOL_SIZE })
  const pool = new pg.Pool({ connectionString: PG_URL, max: POOL_SIZE, types: TYPES, application_name: 'tandem-bench-raw-insert' })
  const client = await rawClient('tandem-bench-raw-insert-one')
  const items = store.collection('items')
  const tandemInsert = (data) => items.insert(data)
  const pooled = rawInsert(pool, schemas.raw, 'pool')
  const single = rawInsert(client, schemas.raw, 'one')
  const rates = { burst: [], window: [], rawPool: [], rawOne: [] }
  try {
    await burstRate(tandemInsert, 300)
    await burstRate(pooled, 300)
    for (let round = 0; round < ROUNDS; round++) {
      rates.rawPool.push(await burstRate(pooled, ROUND_MS))
      rates.burst.push(await burstRate(tandemInsert, ROUND_MS))
      rates.window.push(await windowRate(tandemInsert, ROUND_MS))
      rates.rawOne.push(await rateFor(ROUND_MS, (i) => single(sampleData(i))))
      log(
        `  round ${round + 1}: raw autocommit ${formatRate(rates.rawPool.at(-1))} (pool of ${POOL_SIZE}), ${formatRate(rates.rawOne.at(-1))} (one at a time); tandem burst ${formatRate(rates.burst.at(-1))}, window ${formatRate(rates.window.at(-1))}`,
      )
    }
  } finally {
    await store.close()
    await pool.end()
    await client.end()
    await dropSchemas(schemas.tandem, schemas.raw)
  }
  const m = Object.fromEntries(Object.entries(rates).map(([k, v]) => [k, median(v)]))
  log(
    `  medians: tandem burst ${formatRate(m.burst)}, window ${formatRate(m.window)}; raw autocommit ${formatRate(m.rawOne)} (one at a time), ${formatRate(m.rawPool)} (pool of ${POOL_SIZE}: tandem burst is ${(m.burst / m.rawPool).toFixed(2)}x that)`,
  )
  const row = (name, tandem, raw, rawLabel, goal) =>
    resultRow({
      name,
      tandem: formatRate(tandem),
      raw: `${formatRate(raw)} (${rawLabel})`,
      ratio: `${(tandem / raw).toFixed(2)}x`,
      goal: `>= ${goal}x raw`,
      pass: tandem / raw >= goal,
    })
  return {
    rows: [
      row(`pg 2. ${BURST.toLocaleString('en')} inserts issued at once (inserts/s)`, m.burst, m.rawOne, 'autocommit, 1 at a time', 5),
      row(`pg 2. ${WINDOW} inserts kept in flight (inserts/s)`, m.window, m.rawOne, 'autocommit, 1 at a time', 5),
    ],
    details: { medians: m, rounds: rates },
  }
}
