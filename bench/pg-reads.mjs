// PostgreSQL benchmark 5: reads (issue #22, goal 5). A Tandem store on PostgreSQL with READ_RECORDS
// records (default 100,000; `group` indexed, ~50 records per value), and raw node-postgres on a
// copy of the same rows in a table of the same shape with its own index on data->>'group'. Both
// sides run on a pool of 5 connections, one read in flight, with prepared (named) statements, the
// raw side selecting the same columns Tandem does. Rounds alternate; ratio per round, median and
// min-max reported. Rates are per second of wall-clock time: a read waits on the server.
import pg from 'pg'
import { openStore } from '../dist/index.js'
import { formatRate, log, median, rateFor, resultRow } from './lib.mjs'
import { benchSchema, createRawTable, dropSchemas, PG_URL, TYPES, withClient } from './pg-lib.mjs'
import { READ_COLLECTIONS, readData, ratioCell } from './reads.mjs'

const RECORDS = Number(process.env.READ_RECORDS ?? 100_000)
const GROUPS = Math.max(1, Math.round(RECORDS / 50))
const ROUND_MS = 1000
const ROUNDS = 5
const POOL_SIZE = 5
const COLUMNS = 'id, version, created_at, updated_at, role, data'

async function compare(name, tandemStep, rawStep) {
  await rateFor(300, rawStep)
  await rateFor(300, tandemStep)
  const tandem = []
  const raw = []
  for (let round = 0; round < ROUNDS; round++) {
    const sides = round % 2 === 0 ? [rawStep, tandemStep] : [tandemStep, rawStep]
    for (const step of sides) (step === rawStep ? raw : tandem).push(await rateFor(ROUND_MS, step))
  }
  const ratios = tandem.map((t, i) => t / raw[i])
  log(`  ${name}: tandem ${tandem.map(formatRate).join(' ')} | raw ${raw.map(formatRate).join(' ')}`)
  return { tandem: median(tandem), raw: median(raw), ratio: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios), ratios }
}

export async function runPostgresReads() {
  log(`postgres reads: ${RECORDS} records, ${ROUNDS} rounds of ${ROUND_MS} ms each side, alternating`)
  const schemas = { tandem: benchSchema('reads_tandem'), raw: benchSchema('reads_raw') }
  const store = await openStore({
    url: PG_URL,
    postgres: { schema: schemas.tandem, poolSize: POOL_SIZE },
    role: 'bench',
    collections: READ_COLLECTIONS,
  })
  const pool = new pg.Pool({ connectionString: PG_URL, max: POOL_SIZE, types: TYPES, application_name: 'tandem-bench-raw-reads' })
  try {
    const items = store.collection('items')
    for (let first = 0; first < RECORDS; first += 1000) {
      const batch = []
      for (let i = first; i < Math.min(RECORDS, first + 1000); i++) batch.push(readData(i, RECORDS))
      await items.insertMany(batch)
    }
    await createRawTable(schemas.raw)
    const ids = await withClient(async (client) => {
      await client.query(`INSERT INTO "${schemas.raw}".items SELECT ${COLUMNS} FROM "${schemas.tandem}".items`)
      await client.query(`CREATE INDEX ON "${schemas.raw}".items ((data->>'group'))`)
      await client.query(`ANALYZE "${schemas.raw}".items`)
      await client.query(`ANALYZE "${schemas.tandem}".items`)
      return (await client.query(`SELECT id FROM "${schemas.raw}".items ORDER BY md5(id)`)).rows.map((r) => r.id)
    })
    const get = { name: 'raw_reads_get', text: `SELECT ${COLUMNS} FROM "${schemas.raw}".items WHERE id = $1` }
    const byGroup = { name: 'raw_reads_group', text: `SELECT ${COLUMNS} FROM "${schemas.raw}".items WHERE data->>'group' = $1` }
    const groups = Array.from({ length: GROUPS }, (_, g) => `g${(g * 7919) % GROUPS}`)
    const getRate = await compare(
      'get by id',
      (i) => items.get(ids[i % ids.length]),
      (i) => pool.query({ ...get, values: [ids[i % ids.length]] }),
    )
    const eqRate = await compare(
      'indexed equality',
      (i) => items.find({ where: { group: groups[i % groups.length] } }),
      (i) => pool.query({ ...byGroup, values: [groups[i % groups.length]] }),
    )
    const row = (name, r) =>
      resultRow({
        name,
        tandem: formatRate(r.tandem),
        raw: formatRate(r.raw),
        ratio: ratioCell(r),
        goal: '>= 0.9x raw',
        pass: r.ratio >= 0.9,
      })
    return {
      rows: [row('pg 5. get by id (gets/s)', getRate), row('pg 5. indexed equality, ~50 rows (queries/s)', eqRate)],
      details: { get: getRate, eq: eqRate },
    }
  } finally {
    await store.close()
    await pool.end()
    await dropSchemas(schemas.tandem, schemas.raw)
  }
}
