// PostgreSQL benchmark 4: many updates of different records in flight at once in one process (an
// API server answering concurrent requests). Tandem's write queue runs them up to 1000 per
// transaction, each in its own savepoint (a failing one is undone alone): two round trips per
// update, its locked read and its write. The raw baseline is what such a server does by hand:
// `BEGIN; SELECT … FOR UPDATE; UPDATE; COMMIT` per request, as many at once as a pool of the same
// size as Tandem's (5 connections) takes. Rounds alternate between the sides; figures are medians.
// No issue sets a goal here; the row shows where Tandem stands against that baseline.
import pg from 'pg'
import { formatRate, log, median, resultRow } from './lib.mjs'
import { benchSchema, createRawTable, dropSchemas, openPgTandem, PG_URL, TYPES, withClient } from './pg-lib.mjs'

const RECORDS = 1000
const ROUND_MS = 1500
const ROUNDS = 3
const POOL_SIZE = 5

/** Updates every record once, all at once, until `ms` passed. Returns updates/s. */
async function burstRate(update, ids, ms) {
  const started = performance.now()
  let n = 0
  do {
    await Promise.all(ids.map(update))
    n += ids.length
  } while (performance.now() - started < ms)
  return n / ((performance.now() - started) / 1000)
}

/** One read-modify-write transaction by hand on a pooled connection. */
function rawUpdate(pool, schema) {
  const select = { name: 'raw_select_for_update', text: `SELECT version, data FROM "${schema}".items WHERE id = $1 FOR UPDATE` }
  const update = { name: 'raw_update', text: `UPDATE "${schema}".items SET version = $1, updated_at = $2, data = $3 WHERE id = $4` }
  return async (id) => {
    const client = await pool.connect()
    try {
      await client.query('BEGIN')
      const [row] = (await client.query({ ...select, values: [id] })).rows
      await client.query({ ...update, values: [row.version + 1, Date.now(), JSON.stringify({ ...row.data, n: row.data.n + 1 }), id] })
      await client.query('COMMIT')
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined)
      throw error
    } finally {
      client.release()
    }
  }
}

export async function runPostgresConcurrentUpdate() {
  log(`postgres concurrent updates: ${RECORDS} updates of different records at once, ${ROUNDS} rounds of ${ROUND_MS} ms`)
  const schemas = { tandem: benchSchema('upd_tandem'), raw: benchSchema('upd_raw') }
  await createRawTable(schemas.raw)
  await withClient((c) =>
    c.query(`INSERT INTO "${schemas.raw}".items SELECT 'r' || g, 1, 0, 0, 'bench', '{"n":0}' FROM generate_series(1, ${RECORDS}) g`),
  )
  const store = await openPgTandem(schemas.tandem, { poolSize: POOL_SIZE })
  const pool = new pg.Pool({ connectionString: PG_URL, max: POOL_SIZE, types: TYPES, application_name: 'tandem-bench-raw-update' })
  const items = store.collection('items')
  const tandemIds = (await Promise.all(Array.from({ length: RECORDS }, () => items.insert({ n: 0 })))).map((r) => r.id)
  const rawIds = Array.from({ length: RECORDS }, (_, i) => `r${i + 1}`)
  const increment = (data) => ({ ...data, n: data.n + 1 })
  const tandemUpdate = (id) => items.update(id, increment)
  const raw = rawUpdate(pool, schemas.raw)
  const rates = { tandem: [], raw: [] }
  try {
    await burstRate(tandemUpdate, tandemIds, 300)
    await burstRate(raw, rawIds, 300)
    for (let round = 0; round < ROUNDS; round++) {
      rates.raw.push(await burstRate(raw, rawIds, ROUND_MS))
      rates.tandem.push(await burstRate(tandemUpdate, tandemIds, ROUND_MS))
      log(`  round ${round + 1}: tandem ${formatRate(rates.tandem.at(-1))}, raw pool of ${POOL_SIZE} ${formatRate(rates.raw.at(-1))}`)
    }
  } finally {
    await store.close()
    await pool.end()
    await dropSchemas(schemas.tandem, schemas.raw)
  }
  const tandem = median(rates.tandem)
  const rawRate = median(rates.raw)
  log(`  medians: tandem ${formatRate(tandem)}, raw ${formatRate(rawRate)}`)
  return {
    rows: [
      resultRow({
        name: `pg 4. ${RECORDS} updates of different records at once (updates/s)`,
        tandem: formatRate(tandem),
        raw: `${formatRate(rawRate)} (read-modify-write, pool of ${POOL_SIZE})`,
        ratio: `${(tandem / rawRate).toFixed(2)}x`,
        goal: '>= 1x raw (no issue goal)',
        pass: tandem >= rawRate,
      }),
    ],
    details: { tandem: rates.tandem, raw: rates.raw },
  }
}
