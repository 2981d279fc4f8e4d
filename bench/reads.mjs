// Benchmark 6: reads (issue #22, goals 1 and 2). One store of READ_RECORDS records (default
// 100,000, about 200 bytes each) with two indexed fields, and raw better-sqlite3 on a copy of the
// same rows in a table of the same shape, each field indexed by hand. Rounds alternate the sides;
// each round gives a ratio, and the row reports the median ratio with its min-max.
//
//   get by id         one record by id, awaited one at a time, ids in random order over the store
//   get, hot set      the same over 1,000 ids only (a dashboard's working set)
//   indexed equality  every record of one value of an indexed field: about 50 rows
//   range + order     `score >= x` ordered by score, limit 50
//
// Rates are per second of CPU time (see cpuRateFor). Raw runs prepared statements of its own and builds { id, version, data } per row (JSON.parse of
// the data); Tandem returns its full records (times as ISO strings, the role) through its async API.
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { openStore } from '../dist/index.js'
import { formatRate, log, median, openRaw, resultRow } from './lib.mjs'

const RECORDS = Number(process.env.READ_RECORDS ?? 100_000)
const GROUPS = Math.max(1, Math.round(RECORDS / 50))
const ROUND_MS = 700
const ROUNDS = 5
const WARMUP_MS = 300
const HOT = 1000
const LIMIT = 50

export const READ_COLLECTIONS = { items: { writers: '*', indexes: ['group', 'score'] } }

/** A record of about 200 bytes: `group` has GROUPS values (~50 records each), `score` is unique. */
export function readData(i, records = RECORDS) {
  return {
    n: i,
    name: `item ${i}`,
    group: `g${i % GROUPS}`,
    score: (i * 7919) % records,
    status: i % 3 === 0 ? 'done' : 'open',
    tags: ['bench', 'tandem'],
    owner: { id: i % 97, kind: 'user', name: `owner ${i % 97}` },
    note: 'x'.repeat(40),
  }
}

/** Fills a Tandem store (insertMany, 1000 per transaction) and a raw copy of its rows. */
export async function loadReadStores(dir, records = RECORDS) {
  const path = join(dir, 'reads-tandem.db')
  const store = await openStore({ path, role: 'bench', collections: READ_COLLECTIONS })
  const items = store.collection('items')
  for (let first = 0; first < records; first += 1000) {
    const batch = []
    for (let i = first; i < Math.min(records, first + 1000); i++) batch.push(readData(i, records))
    await items.insertMany(batch)
  }
  const raw = openRaw(join(dir, 'reads-raw.db'))
  const source = new Database(path, { readonly: true })
  const insert = raw.prepare('INSERT INTO items (id, version, created_at, updated_at, role, data) VALUES (?, ?, ?, ?, ?, ?)')
  raw.transaction(() => {
    for (const r of source.prepare('SELECT id, version, created_at, updated_at, role, data FROM c_items').raw().iterate()) insert.run(...r)
  })()
  const ids = source.prepare('SELECT id FROM c_items').pluck().all()
  source.close()
  raw.exec(`CREATE INDEX items_group ON items (json_extract(data, '$.group'))`)
  raw.exec(`CREATE INDEX items_score ON items (json_extract(data, '$.score'))`)
  raw.exec('ANALYZE')
  return { store, items, raw, ids }
}

/** The raw side: prepared once, one object per row. */
function rawReads(raw) {
  const get = raw.prepare('SELECT id, version, data FROM items WHERE id = ?')
  const byGroup = raw.prepare(`SELECT id, version, data FROM items WHERE json_extract(data, '$.group') = ?`)
  const byScore = raw.prepare(
    `SELECT id, version, data FROM items WHERE json_extract(data, '$.score') >= ? ORDER BY json_extract(data, '$.score') LIMIT ${LIMIT}`,
  )
  const record = (row) => ({ id: row.id, version: row.version, data: JSON.parse(row.data) })
  return {
    get: (id) => {
      const row = get.get(id)
      return row === undefined ? undefined : record(row)
    },
    byGroup: (group) => byGroup.all(group).map(record),
    byScore: (score) => byScore.all(score).map(record),
  }
}

/**
 * Like rateFor, but per second of this process's CPU time (user + system), not of the wall clock:
 * a read never waits (the pages are in memory), so its cost is CPU time, and a machine shared with
 * other jobs takes wall-clock time away from either side at random.
 */
async function cpuRateFor(ms, step) {
  const cpu = process.cpuUsage()
  const wall = performance.now()
  let n = 0
  while (performance.now() - wall < ms) {
    for (let i = 0; i < 64; i++) {
      const r = step(n++)
      if (r !== undefined) await r
    }
  }
  const used = process.cpuUsage(cpu)
  return n / ((used.user + used.system) / 1e6)
}

/** A shuffled copy (deterministic). */
function shuffled(values) {
  const out = [...values]
  let seed = 42
  for (let i = out.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    const j = seed % (i + 1)
    ;[out[i], out[j]] = [out[j], out[i]]
  }
  return out
}

/** Runs each pair of steps in alternating rounds; returns the rates and per-round ratios. */
async function compare(name, tandemStep, rawStep) {
  await cpuRateFor(WARMUP_MS, rawStep)
  await cpuRateFor(WARMUP_MS, tandemStep)
  const tandem = []
  const raw = []
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which side goes first, so a trend in the machine's speed favours neither.
    if (round % 2 === 0) {
      raw.push(await cpuRateFor(ROUND_MS, rawStep))
      tandem.push(await cpuRateFor(ROUND_MS, tandemStep))
    } else {
      tandem.push(await cpuRateFor(ROUND_MS, tandemStep))
      raw.push(await cpuRateFor(ROUND_MS, rawStep))
    }
  }
  const ratios = tandem.map((t, i) => t / raw[i])
  log(`  ${name}: tandem ${tandem.map(formatRate).join(' ')} | raw ${raw.map(formatRate).join(' ')}`)
  return { tandem: median(tandem), raw: median(raw), ratio: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios), ratios }
}

export function ratioCell(r) {
  return `${r.ratio.toFixed(2)}x (${r.min.toFixed(2)}-${r.max.toFixed(2)})`
}

function row(name, r, goal, least) {
  return resultRow({
    name,
    tandem: formatRate(r.tandem),
    raw: formatRate(r.raw),
    ratio: ratioCell(r),
    goal: `>= ${least}x raw`,
    pass: r.ratio >= least,
    note: goal,
  })
}

export async function runReads({ dir }) {
  log(`reads: ${RECORDS} records, ${ROUNDS} rounds of ${ROUND_MS} ms each side, alternating`)
  const { store, items, raw, ids } = await loadReadStores(dir)
  try {
    const reads = rawReads(raw)
    const order = shuffled(ids)
    const hot = order.slice(0, HOT)
    const groups = shuffled(Array.from({ length: GROUPS }, (_, g) => `g${g}`))
    const scores = shuffled(Array.from({ length: 997 }, (_, k) => Math.floor((k * RECORDS) / 1000)))
    const get = await compare(
      'get by id',
      (i) => items.get(order[i % order.length]),
      (i) => void reads.get(order[i % order.length]),
    )
    const getHot = await compare(
      'get, hot set',
      (i) => items.get(hot[i % HOT]),
      (i) => void reads.get(hot[i % HOT]),
    )
    const eq = await compare(
      'indexed equality',
      (i) => items.find({ where: { group: groups[i % groups.length] } }),
      (i) => void reads.byGroup(groups[i % groups.length]),
    )
    const range = await compare(
      'range + orderBy + limit',
      (i) => items.find({ where: { score: { gte: scores[i % scores.length] } }, orderBy: 'score', limit: LIMIT }),
      (i) => void reads.byScore(scores[i % scores.length]),
    )
    return {
      rows: [
        row(`6. get by id, random of ${RECORDS / 1000}k (gets/s)`, get, 'issue #22 goal 2', 1.0),
        row(`6. get by id, ${HOT} hot records (gets/s)`, getHot, 'issue #22 goal 2', 1.0),
        row('6. indexed equality, ~50 rows (queries/s)', eq, 'issue #22 goal 1', 0.9),
        row(`6. range + orderBy + limit ${LIMIT} (queries/s)`, range, 'issue #22 goal 1', 0.9),
      ],
      details: { get, getHot, eq, range },
    }
  } finally {
    await store.close()
    raw.close()
  }
}
