// `npm run bench:copy`: tandem copy (copyStore) of a SQLite store to PostgreSQL and back, with the
// read-back verification each copy does. 100,000 records of about 400 bytes by default
// (RECORDS=n to change). Not a goal of any issue: a figure for users planning the move.
import { join } from 'node:path'
import { openStore } from '../dist/index.js'
import { copyStore } from '../dist/lifecycle.js'
import { formatRate, log, tempDir } from './lib.mjs'
import { PG_URL, benchSchema, dropSchemas } from './pg-lib.mjs'

const RECORDS = Number(process.env.RECORDS ?? 100_000)
const collections = { items: { writers: '*' } }

const { dir, remove } = tempDir('tandem-bench-copy-')
const schema = benchSchema('copy')
try {
  const source = await openStore({ path: join(dir, 'source.db'), role: 'bench', collections })
  const items = source.collection('items')
  for (let i = 0; i < RECORDS; i += 1000) {
    const n = Math.min(1000, RECORDS - i)
    await items.insertMany(
      Array.from({ length: n }, (_, k) => ({ n: i + k, name: `item ${i + k}`, status: 'open', text: 'x'.repeat(330) })),
    )
  }
  await source.close()
  log(`copy: ${RECORDS.toLocaleString('en')} records of about 400 bytes`)

  const timed = async (label, from, to) => {
    const started = performance.now()
    const result = await copyStore({ from, to })
    const seconds = (performance.now() - started) / 1000
    const ok = result.collections.every((c) => c.ok)
    console.log(
      `${label.padEnd(24)} ${seconds.toFixed(1).padStart(5)} s  ${formatRate(RECORDS / seconds).padStart(9)}  verified: ${ok ? 'counts and checksums match' : 'MISMATCH'}`,
    )
    if (!ok) process.exitCode = 1
  }
  await timed('SQLite -> PostgreSQL', { path: join(dir, 'source.db') }, { url: PG_URL, postgres: { schema } })
  await timed('PostgreSQL -> SQLite', { url: PG_URL, postgres: { schema } }, { path: join(dir, 'back.db') })
  await timed('SQLite -> SQLite', { path: join(dir, 'back.db') }, { path: join(dir, 'again.db') })
} finally {
  await dropSchemas(schema)
  remove()
}
