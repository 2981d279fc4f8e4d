// Storage benchmark (issue 25): how big a store gets for the data it holds, and what the change log
// costs per write, against raw better-sqlite3 in the same run. Default settings throughout.
//   1. 1,000 records of ~1 KB patched PATCHES_1KB times: file size and amplification (file ÷ live data)
//   2. the same with ~20 KB records, PATCHES_20KB times (fewer: each patch rewrites 20 KB)
//   3. single insert and single patch rates, one in flight, ÷ raw autocommit INSERT/UPDATE
//   4. bulk load of BULK_RECORDS in 1,000-record batches (insertMany) ÷ raw 1,000-row transactions, and in
//      one insertMany ÷ raw in one transaction; median of BULK_ROUNDS interleaved rounds, min–max of the ratios
// Run: npm run bench:storage (options: PATCHES_1KB=100000 PATCHES_20KB=20000 BULK_RECORDS=100000).
import { statSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { formatRate, log, median, openRaw, openTandem, rateFor, sampleData, tempDir } from './lib.mjs'

const PATCHES_1KB = Number(process.env.PATCHES_1KB ?? 100_000)
const PATCHES_20KB = Number(process.env.PATCHES_20KB ?? 20_000)
const BULK_RECORDS = Number(process.env.BULK_RECORDS ?? 100_000)
const RECORDS = 1000
/** Patches in flight at once (group commit batches them, as an app's concurrent saves would be). */
const IN_FLIGHT = 64

const fileBytes = (path) => statSync(path, { throwIfNoEntry: false })?.size ?? 0
const mib = (bytes) => `${(bytes / 1048576).toFixed(2)} MiB`

function bodyOf(size, i) {
  return { n: i, title: `record ${i}`, body: 'x'.repeat(size - 40) }
}

/** Tandem: RECORDS records of `size` bytes, `patches` patches; the file size once closed (checkpointed). */
async function tandemGrowth(dir, size, patches) {
  const path = join(dir, `growth-${size}.db`)
  const store = await openTandem(path)
  const items = store.collection('items')
  const ids = []
  for (let start = 0; start < RECORDS; start += 100)
    ids.push(...(await items.insertMany(Array.from({ length: 100 }, (_, k) => bodyOf(size, start + k)))).map((r) => r.id))
  const started = performance.now()
  let next = 0
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < patches) {
        const k = next++
        await items.patch(ids[k % RECORDS], { n: k })
      }
    }),
  )
  const seconds = (performance.now() - started) / 1000
  const sizes = (await store.describe()).sizes
  await store.close()
  const bytes = fileBytes(path)
  return { bytes, live: sizes.liveDataBytes, amplification: bytes / sizes.liveDataBytes, seconds, sizes }
}

/** Raw better-sqlite3: the same records and patches as UPDATEs, in transactions of IN_FLIGHT. */
function rawGrowth(dir, size, patches) {
  const path = join(dir, `raw-growth-${size}.db`)
  const db = openRaw(path)
  const insert = db.prepare('INSERT INTO items (id, version, created_at, updated_at, role, data) VALUES (?, 1, ?, ?, ?, ?)')
  const update = db.prepare('UPDATE items SET version = version + 1, updated_at = ?, data = json_set(data, ?, ?) WHERE id = ?')
  const now = Date.now()
  db.transaction(() => {
    for (let i = 0; i < RECORDS; i++) insert.run(`r${i}`, now, now, 'bench', JSON.stringify(bodyOf(size, i)))
  })()
  const batch = db.transaction((from) => {
    for (let k = from; k < Math.min(from + IN_FLIGHT, patches); k++) update.run(Date.now(), '$.n', k, `r${k % RECORDS}`)
  })
  for (let k = 0; k < patches; k += IN_FLIGHT) batch(k)
  const live = db.prepare('SELECT sum(length(data)) AS n FROM items').get().n
  db.close()
  const bytes = fileBytes(path)
  return { bytes, live, amplification: bytes / live }
}

async function singleRates(dir) {
  const raw = openRaw(join(dir, 'single-raw.db'))
  const rawInsert = raw.prepare('INSERT INTO items (id, version, created_at, updated_at, role, data) VALUES (?, 1, ?, ?, ?, ?)')
  const rawUpdate = raw.prepare('UPDATE items SET version = version + 1, updated_at = ?, data = ? WHERE id = ?')
  const store = await openTandem(join(dir, 'single-tandem.db'))
  const items = store.collection('items')
  let rawN = 0
  const insertRaw = (i) => {
    const now = Date.now()
    rawInsert.run(`raw-${++rawN}`, now, now, 'bench', JSON.stringify(sampleData(i)))
  }
  const patchRaw = (i) => rawUpdate.run(Date.now(), JSON.stringify(sampleData(i)), `raw-${(i % 1000) + 1}`)
  const target = await items.insertMany(Array.from({ length: 1000 }, (_, i) => sampleData(i)))
  const patchTandem = (i) => items.patch(target[i % 1000].id, { n: i })
  const rounds = { insertRaw: [], insertTandem: [], patchRaw: [], patchTandem: [] }
  await rateFor(300, insertRaw)
  await rateFor(300, (i) => items.insert(sampleData(i)))
  for (let round = 0; round < 3; round++) {
    rounds.insertRaw.push(await rateFor(1000, insertRaw))
    rounds.insertTandem.push(await rateFor(1000, (i) => items.insert(sampleData(i))))
    rounds.patchRaw.push(await rateFor(1000, patchRaw))
    rounds.patchTandem.push(await rateFor(1000, patchTandem))
  }
  await store.close()
  raw.close()
  return Object.fromEntries(Object.entries(rounds).map(([k, v]) => [k, median(v)]))
}

const BULK_ROUNDS = 3

/** One bulk load of BULK_RECORDS, timed: raw in transactions of `per` rows, Tandem in insertMany calls of `per`. */
function rawBulk(path, per) {
  const raw = openRaw(path)
  const insert = raw.prepare('INSERT INTO items (id, version, created_at, updated_at, role, data) VALUES (?, 1, ?, ?, ?, ?)')
  const batch = raw.transaction((from) => {
    const now = Date.now()
    for (let i = from; i < Math.min(from + per, BULK_RECORDS); i++) insert.run(`raw-${i}`, now, now, 'bench', JSON.stringify(sampleData(i)))
  })
  const started = performance.now()
  for (let i = 0; i < BULK_RECORDS; i += per) batch(i)
  const ms = performance.now() - started
  raw.close()
  return ms
}

async function tandemBulk(path, per) {
  const store = await openTandem(path)
  const items = store.collection('items')
  const started = performance.now()
  for (let i = 0; i < BULK_RECORDS; i += per)
    await items.insertMany(Array.from({ length: Math.min(per, BULK_RECORDS - i) }, (_, k) => sampleData(i + k)))
  const ms = performance.now() - started
  await store.close()
  return ms
}

/** Bulk loads in 1,000-record batches and in one transaction, BULK_ROUNDS interleaved rounds, fresh files each time. */
async function bulkLoad(dir) {
  const out = { batched: [], whole: [] }
  for (let round = 0; round < BULK_ROUNDS; round++) {
    for (const [kind, per] of [
      ['batched', 1000],
      ['whole', BULK_RECORDS],
    ]) {
      const rawMs = rawBulk(join(dir, `bulk-raw-${kind}-${round}.db`), per)
      const tandemMs = await tandemBulk(join(dir, `bulk-tandem-${kind}-${round}.db`), per)
      out[kind].push({ rawMs, tandemMs, ratio: tandemMs / rawMs })
    }
  }
  return out
}

/** Median with min–max of the per-round ratios, and the median times. */
function bulkRow(label, rounds, goal) {
  const ratios = rounds.map((r) => r.ratio)
  const m = median(ratios)
  return [
    label,
    `${median(rounds.map((r) => r.tandemMs)).toFixed(0)} ms`,
    `${median(rounds.map((r) => r.rawMs)).toFixed(0)} ms`,
    `${m.toFixed(2)}× raw time (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}; goal ≤ ${goal}): ${m <= goal ? 'PASS' : 'MISS'}`,
  ]
}

const { dir, remove } = tempDir()
try {
  log(
    `storage benchmark, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  )
  const rows = []
  for (const [size, patches] of [
    [1000, PATCHES_1KB],
    [20_000, PATCHES_20KB],
  ]) {
    log(`growth: ${RECORDS} records of ~${size / 1000} KB, ${patches} patches`)
    const t = await tandemGrowth(dir, size, patches)
    const r = rawGrowth(dir, size, patches)
    log(`  change log ${mib(t.sizes.changeLogBytes)}, records ${mib(t.sizes.recordBytes)}, free ${mib(t.sizes.freeBytes)}`)
    rows.push([
      `${RECORDS} × ~${size / 1000} KB, ${patches} patches`,
      `${mib(t.bytes)} (${t.amplification.toFixed(2)}×, ${(patches / t.seconds).toFixed(0)} patches/s)`,
      `${mib(r.bytes)} (${r.amplification.toFixed(2)}×)`,
      `amplification ≤ 3: ${t.amplification <= 3 ? 'PASS' : 'MISS'}`,
    ])
  }
  log('single insert and patch rates, 3 rounds of 1 s each side')
  const s = await singleRates(dir)
  rows.push([
    'single insert, 1 in flight',
    formatRate(s.insertTandem),
    formatRate(s.insertRaw),
    `${(s.insertTandem / s.insertRaw).toFixed(2)}× raw (goal ≥ 0.7): ${s.insertTandem / s.insertRaw >= 0.7 ? 'PASS' : 'MISS'}`,
  ])
  rows.push([
    'single patch, 1 in flight',
    formatRate(s.patchTandem),
    formatRate(s.patchRaw),
    `${(s.patchTandem / s.patchRaw).toFixed(2)}× raw`,
  ])
  log(`bulk load: ${BULK_RECORDS} records in 1,000-record batches and in one insertMany, ${BULK_ROUNDS} interleaved rounds`)
  const b = await bulkLoad(dir)
  rows.push(bulkRow(`bulk load ${BULK_RECORDS}, 1,000 per batch`, b.batched, 2))
  rows.push(bulkRow(`bulk load ${BULK_RECORDS}, one insertMany (one transaction)`, b.whole, 1.25))
  console.log('| workload | tandem | raw better-sqlite3 | verdict |\n| --- | --- | --- | --- |')
  for (const row of rows) console.log(`| ${row.join(' | ')} |`)
  console.log(
    `\nload average after: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  )
} finally {
  remove()
}
