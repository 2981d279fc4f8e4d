// What `tandem inspect` does on a store of 1,000,000 records: time to each screen in headless
// Chromium (the page's own API calls included) and the inspector process's memory (RSS now, and
// its peak, from /proc). The store is one collection "items" with an index on status; rows are
// bulk-loaded with better-sqlite3 (setup, not measured).
//
//   npm run build && node bench/inspector-1m.mjs [records]   (default 1000000)
//
// Needs Debian's chromium (see .ci/run). Not part of `npm test`: it writes ~400 MB of temp files.
import { execFileSync, spawn } from 'node:child_process'
import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { chromium } from 'playwright-core'
import { openStore } from '../dist/index.js'
import { log, printTable, tempDir } from './lib.mjs'

const n = Number(process.argv[2] ?? 1_000_000)
const COLLECTIONS = { items: { writers: ['bench'], indexes: ['status'] } }

/** VmRSS and VmHWM (peak) of a process, in MiB. */
function memory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN)
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 }
}

async function seed(path) {
  const store = await openStore({ path, role: 'bench', collections: COLLECTIONS })
  await store.close()
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  const insert = db.prepare('INSERT INTO "c_items" (id, version, created_at, updated_at, role, data) VALUES (?, ?, ?, ?, ?, ?)')
  const base = Date.UTC(2025, 0, 1)
  const load = db.transaction((from, to) => {
    for (let i = from; i < to; i++) {
      const data = { n: i, name: `item ${i}`, status: i % 4 === 0 ? 'done' : 'open', owner: { id: i % 97 } }
      insert.run(`item-${String(i).padStart(9, '0')}`, 1, base + i, base + i, 'bench', JSON.stringify(data))
    }
  })
  for (let i = 0; i < n; i += 100_000) load(i, Math.min(n, i + 100_000))
  db.exec('PRAGMA wal_checkpoint(TRUNCATE)')
  db.close()
}

const { dir, remove } = tempDir()
const rows = []
let inspector
let browser
try {
  const file = join(dir, 'big.db')
  log(`seeding ${n.toLocaleString('en')} records...`)
  await seed(file)

  const started = performance.now()
  inspector = spawn(process.execPath, ['dist/cli/main.js', 'inspect', file], { stdio: ['ignore', 'pipe', 'inherit'] })
  const url = await new Promise((resolve, reject) => {
    let out = ''
    inspector.stdout.on('data', (d) => {
      out += d
      if (out.includes('\n')) resolve(out.split('\n')[0].trim())
    })
    inspector.once('exit', (code) => reject(new Error(`tandem inspect exited ${code}`)))
  })
  const step = (name, ms, note = '') => {
    const m = memory(inspector.pid)
    rows.push({ step: name, ms: ms.toFixed(0), rss: m.rss.toFixed(0), peak: m.peak.toFixed(0), note })
    log(`${name}: ${ms.toFixed(0)} ms, RSS ${m.rss.toFixed(0)} MiB`)
  }
  step('inspector started (URL printed)', performance.now() - started)

  const executablePath = process.env.CHROMIUM_PATH ?? execFileSync('sh', ['-c', 'command -v chromium']).toString().trim()
  browser = await chromium.launch({ executablePath, args: ['--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'] })
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  const wait = { timeout: 600_000 }
  const timed = async (name, action, selector, note) => {
    const t = performance.now()
    await action()
    await page.waitForSelector(selector, wait)
    step(name, performance.now() - t, note)
  }
  const go = (hash) => () => page.evaluate(`location.hash = ${JSON.stringify(hash)}`)

  await timed(
    'Collections screen (page load, counts)',
    () => page.goto(url),
    '#collections tr[data-collection="items"]',
    'COUNT(*) of each collection',
  )
  await timed('Records: first page of 25 (find + count)', go('#/records/items'), '#records tr[data-id="item-000000000"]', 'ordered by id')
  await timed('Records: next page', () => page.click('#next'), '#records tr[data-id="item-000000025"]', 'keyset cursor; the count is kept')
  await timed('Records: page of 100', () => page.selectOption('#limit', '100'), '#records tbody tr:nth-child(100)')
  await timed(
    'Filter status = done (indexed)',
    async () => {
      await page.fill('.condition .field', 'status')
      await page.fill('.condition .value', 'done')
      await page.click('#apply')
    },
    `.summary[data-count="${Math.ceil(n / 4)}"]`,
    `count of ${Math.ceil(n / 4).toLocaleString('en')} matches + first page`,
  )
  await timed(
    'Filter n >= N-10 (not indexed)',
    async () => {
      await page.fill('.condition .field', 'n')
      await page.selectOption('.condition .op', 'gte')
      await page.fill('.condition .value', String(n - 10))
      await page.click('#apply')
    },
    '.summary[data-count="10"]',
    'scans every record',
  )
  await page.click('#clear')
  await page.waitForSelector(`.summary[data-count="${n}"]`, wait)
  await timed(
    'Sort by n, descending (not indexed)',
    async () => {
      await page.click('button[data-sort="n"]')
      await page.waitForSelector('th[aria-sort="ascending"] button[data-sort="n"]', wait)
      await page.click('button[data-sort="n"]')
    },
    `#records tbody tr:first-child[data-id="item-${String(n - 1).padStart(9, '0')}"]`,
    'sorts every record',
  )
  await timed('Live screen', go('#/live'), '#feed-table')
  await timed('Processes screen', go('#/processes'), '#processes')
  await timed('Health screen (doctor checks)', go('#/health'), '#checks tr[data-status]', 'integrity_check and change-log scan included')
  const size = statSync(file).size
  console.log(`\n${n.toLocaleString('en')} records, store file ${(size / 1024 / 1024).toFixed(0)} MiB; Node ${process.version}\n`)
  printTable(rows, [
    ['step', 'step'],
    ['ms', 'time (ms)'],
    ['rss', 'RSS after (MiB)'],
    ['peak', 'peak RSS so far (MiB)'],
    ['note', ''],
  ])
} finally {
  await browser?.close()
  inspector?.kill('SIGINT')
  remove()
}
