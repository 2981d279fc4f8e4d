// History bytes (issue 25): what history: 'full' and history: { keep: 'diff' } cost in the change
// log for the same writes. RECORDS records of ~1 KB (a title, tags, a nested object, a text body),
// each patched PATCHES times with a small change (a counter, a status, now and then a tag), into
// two collections of one store; describe() then gives each collection's history bytes (the copies
// or deltas as JSON text), on SQLite, and on PostgreSQL when TANDEM_PG_URL (or the local server) answers.
// Run: npm run build && node bench/history-bytes.mjs (options: RECORDS=200 PATCHES=20).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openStore } from '../dist/index.js'

const RECORDS = Number(process.env.RECORDS ?? 200)
const PATCHES = Number(process.env.PATCHES ?? 20)
const PG_URL = process.env.TANDEM_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const collections = { full: { writers: '*', history: 'full' }, diff: { writers: '*', history: { keep: 'diff' } } }

function record(i) {
  const words = Array.from({ length: 160 }, (_, k) => ['alpha', 'beta', 'gamma', 'delta'][(i + k) % 4]).join(' ')
  return {
    title: `Task ${i}`,
    status: 'open',
    counter: 0,
    tags: ['inbox', `p${i % 5}`],
    owner: { name: `user${i % 17}`, team: 'core' },
    body: words,
  }
}

function patch(n, data) {
  if (n % 5 === 4) return { tags: [...data.tags, `t${n}`] }
  return n % 2 === 0 ? { counter: n } : { status: n % 3 === 0 ? 'done' : 'open', counter: n }
}

async function measure(where) {
  const store = await openStore({ ...where, role: 'bench', collections })
  for (const name of ['full', 'diff']) {
    const c = store.collection(name)
    for (let i = 0; i < RECORDS; i++) {
      const r = await c.insert(record(i), { id: `r${i}` })
      let data = r.data
      for (let n = 0; n < PATCHES; n++) data = (await c.patch(r.id, patch(n, data))).data
    }
  }
  const d = await store.describe()
  const bytes = Object.fromEntries(d.collections.map((c) => [c.name, c.historyBytes]))
  const live = JSON.stringify(record(0)).length
  await store.close()
  return { live, ...bytes }
}

function report(engine, r) {
  const entries = RECORDS * (PATCHES + 1)
  console.log(
    `${engine}: ${RECORDS} records of ${r.live} B, ${PATCHES} patches each (${entries} entries per collection): ` +
      `full ${r.full} B (${(r.full / entries).toFixed(0)} B/entry), diff ${r.diff} B (${(r.diff / entries).toFixed(0)} B/entry), ` +
      `diff/full ${(r.diff / r.full).toFixed(3)}`,
  )
}

const dir = mkdtempSync(join(tmpdir(), 'history-bytes-'))
try {
  report('sqlite', await measure({ path: join(dir, 'store.db') }))
} finally {
  rmSync(dir, { recursive: true, force: true })
}
const schema = `history_bytes_${process.pid}`
try {
  report('postgres', await measure({ url: PG_URL, postgres: { schema } }))
  const pg = await import('pg')
  const client = new pg.default.Client({ connectionString: PG_URL })
  await client.connect()
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  await client.end()
} catch (error) {
  console.log(`postgres: skipped (${error.message})`)
}
