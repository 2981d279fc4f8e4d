#!/usr/bin/env node
// The memory soak: runs each long-lived path of a store many times in one process and reports how
// much the heap grew per operation, measured after full garbage collections. A daemon runs these
// paths for weeks, so anything kept per operation (a listener, a promise reaction, a cache
// without a bound) shows up here as bytes per operation that do not fall as --ops grows.
//
//   node --expose-gc torture/memory-soak.mjs [--backend sqlite|postgres] [--ops 20000] [--limit 200]
//
// Exit codes: 0 every path stayed under --limit bytes per operation, 1 one did not, 2 bad usage.
// Bounded caches fill during the first operations (the PostgreSQL notification cache keeps up to
// 4096 changes), so use --ops of 20,000 or more: the per-operation figure of a bounded cache
// falls as --ops grows, a leak's does not.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { openStore } from '../dist/index.js'

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'sqlite' },
    ops: { type: 'string', default: '20000' },
    limit: { type: 'string', default: '200' },
  },
})
const ops = Number(values.ops)
const limit = Number(values.limit)
if (typeof globalThis.gc !== 'function' || !['sqlite', 'postgres'].includes(values.backend) || !(ops > 0) || !(limit > 0)) {
  console.error('Usage: node --expose-gc torture/memory-soak.mjs [--backend sqlite|postgres] [--ops N] [--limit bytes-per-op]')
  process.exit(2)
}

const PG_URL = process.env.TANDEM_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const schema = `soak_${process.pid}`
const dir = mkdtempSync(join(tmpdir(), 'tandem-soak-'))
const where = values.backend === 'sqlite' ? { dataDir: dir, path: 'soak.db' } : { url: PG_URL, postgres: { schema } }
const store = await openStore({ ...where, role: 'soak', collections: { items: { writers: '*' }, other: { writers: '*' } } })
const items = store.collection('items')
await items.insert({ n: 0 }, { id: 'hot' })

const heapAfterGc = () => {
  globalThis.gc()
  globalThis.gc()
  return process.memoryUsage().heapUsed
}
const turn = () => new Promise((resolve) => setImmediate(resolve))

/** Follows the feed with `start(onChange)` (which returns a stop function); each step inserts one record and waits until it was delivered. */
function following(start) {
  return {
    async setup() {
      const ctx = { delivered: 0 }
      ctx.stop = await start(() => ctx.delivered++)
      return ctx
    },
    async step(ctx) {
      const want = ctx.delivered + 1
      await items.insert({ z: 1 })
      while (ctx.delivered < want) await turn()
    },
    teardown: (ctx) => ctx.stop(),
  }
}

const PATHS = {
  insert: { step: () => items.insert({ x: 1 }) },
  'update (plain fn)': { step: () => items.update('hot', (d) => ({ ...d, n: d.n + 1 })) },
  'update (async fn)': { step: () => items.update('hot', async (d) => ({ ...d, n: d.n + 1 })) },
  transaction: {
    step: () =>
      store.transaction(async (tx) => {
        await tx.collection('items').patch('hot', { p: 1 })
        await tx.collection('other').insert({ y: 1 })
      }),
  },
  'get + find': {
    async step() {
      await items.get('hot')
      await items.find({ limit: 2 })
    },
  },
  'changes() follower': following(async (onChange) => {
    const feed = store.changes({ since: 'now' })
    const done = (async () => {
      for await (const _change of feed) onChange()
    })()
    return async () => {
      feed.close()
      await done
    }
  }),
  'watch() callback': following(async (onChange) => items.watch(onChange)),
  'consumer + ack': {
    async setup() {
      const consumer = store.consumer('soak', { start: 'now' })
      return { consumer, changes: (await consumer.changes())[Symbol.asyncIterator]() }
    },
    async step({ consumer, changes }) {
      await items.insert({ z: 1 })
      const { value } = await changes.next()
      await consumer.ack(value.seq)
    },
    teardown: ({ consumer }) => consumer.close(),
  },
}

let failed = 0
try {
  console.log(`memory soak on ${values.backend}: ${ops} operations per path after 500 warm-up ones; limit ${limit} bytes per operation`)
  for (const [name, path] of Object.entries(PATHS)) {
    const ctx = (await path.setup?.()) ?? {}
    for (let i = 0; i < 500; i++) await path.step(ctx)
    const before = heapAfterGc()
    for (let i = 0; i < ops; i++) await path.step(ctx)
    const perOp = (heapAfterGc() - before) / ops
    await path.teardown?.(ctx)
    const ok = perOp < limit
    if (!ok) failed++
    console.log(`  ${name.padEnd(20)} ${perOp.toFixed(1).padStart(7)} B/op  ${ok ? 'ok' : 'GROWS'}`)
  }
} finally {
  await store.close()
  rmSync(dir, { recursive: true, force: true })
  if (values.backend === 'postgres') {
    const { default: pg } = await import('pg')
    const client = new pg.Client({ connectionString: PG_URL })
    await client.connect()
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await client.end()
  }
}
process.exit(failed === 0 ? 0 : 1)
