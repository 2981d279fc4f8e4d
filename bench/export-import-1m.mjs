// Export and import of 1,000,000 records (and 100,000, to compare): duration and peak RSS of each,
// beside the file size. Each measured step runs in a fresh child process, so its peak RSS
// (process.resourceUsage().maxRSS) is that step's alone. Flat memory means the peak barely moves
// between 100k and 1M records while the file grows tenfold.
//
//   npm run build && node bench/export-import-1m.mjs [records...]   (default: 100000 1000000)
//
// Not part of `npm test`: it writes about 1.5 GB of temp files and takes a minute or two.
import { execFileSync } from 'node:child_process'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { openStore } from '../dist/index.js'
import { exportStore, importStore } from '../dist/lifecycle.js'
import { COLLECTIONS, log, printTable, sampleData, tempDir } from './lib.mjs'

const MB = 1024 * 1024
const peakRssMb = () => process.resourceUsage().maxRSS / 1024 // maxRSS is in kilobytes

// ---- child steps: each prints one JSON line ----
const [, , mode, ...args] = process.argv
if (mode === '--child') {
  const [step, storePath, file] = args
  const store = await openStore({ path: storePath, role: 'bench', collections: COLLECTIONS })
  const started = performance.now()
  let detail = {}
  if (step === 'export') detail = await exportStore(store, { to: file })
  else if (step === 'import') detail = await importStore(store, { from: file, onConflict: 'fail' })
  const durationMs = performance.now() - started
  await store.close()
  console.log(JSON.stringify({ step, durationMs, peakRssMb: peakRssMb(), records: detail.records ?? 0 }))
  process.exit(0)
}

// ---- parent: set up stores, run the children, print the table ----
const self = fileURLToPath(import.meta.url)
function child(step, storePath, file) {
  const out = execFileSync(process.execPath, [self, '--child', step, storePath, file ?? ''], { encoding: 'utf8', maxBuffer: 1 << 20 })
  return JSON.parse(out.trim().split('\n').pop())
}

/** A Tandem store holding `n` records: tables made by openStore, rows bulk-loaded with better-sqlite3 (setup only, not measured). */
async function seed(path, n) {
  const store = await openStore({ path, role: 'bench', collections: COLLECTIONS })
  await store.close()
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  const insert = db.prepare('INSERT INTO "c_items" (id, version, created_at, updated_at, role, data) VALUES (?, ?, ?, ?, ?, ?)')
  const base = Date.UTC(2025, 0, 1)
  const load = db.transaction((from, to) => {
    for (let i = from; i < to; i++)
      insert.run(
        `item-${String(i).padStart(9, '0')}`,
        1 + (i % 5),
        base + i,
        base + i + (i % 5) * 1000,
        'bench',
        JSON.stringify(sampleData(i)),
      )
  })
  for (let i = 0; i < n; i += 100_000) load(i, Math.min(n, i + 100_000))
  db.close()
}

const sizes = args.length > 0 ? args.map(Number) : [100_000, 1_000_000]
const rows = []
const { dir, remove } = tempDir()
try {
  const baseline = child('baseline', join(dir, 'baseline.db'))
  for (const n of sizes) {
    log(`seeding ${n} records...`)
    const source = join(dir, `source-${n}.db`)
    const target = join(dir, `target-${n}.db`)
    const file = join(dir, `export-${n}.ndjson`)
    await seed(source, n)
    log(`exporting ${n}...`)
    const exported = child('export', source, file)
    log(`importing ${n}...`)
    const imported = child('import', target, file)
    if (exported.records !== n || imported.records !== n)
      throw new Error(`expected ${n} records, exported ${exported.records}, imported ${imported.records}`)
    rows.push({
      records: n.toLocaleString('en-US'),
      file: `${(statSync(file).size / MB).toFixed(0)} MB`,
      exportTime: `${(exported.durationMs / 1000).toFixed(1)} s`,
      exportRate: `${Math.round(n / (exported.durationMs / 1000) / 1000)}k/s`,
      exportRss: `${exported.peakRssMb.toFixed(0)} MB`,
      importTime: `${(imported.durationMs / 1000).toFixed(1)} s`,
      importRate: `${Math.round(n / (imported.durationMs / 1000) / 1000)}k/s`,
      importRss: `${imported.peakRssMb.toFixed(0)} MB`,
    })
  }
  console.log(
    `\nExport / import (${process.version}, ${process.platform}); a process that only opens and closes a store peaks at ${baseline.peakRssMb.toFixed(0)} MB RSS.\n`,
  )
  printTable(rows, [
    ['records', 'records'],
    ['file', 'NDJSON file'],
    ['exportTime', 'export'],
    ['exportRate', 'rate'],
    ['exportRss', 'export peak RSS'],
    ['importTime', 'import'],
    ['importRate', 'rate'],
    ['importRss', 'import peak RSS'],
  ])
} finally {
  remove()
}
