import { expect, onTestFinished, test } from 'vitest'
import { openStore, type StoreConfig } from '../../src/index.js'
import { tempDir } from '../helpers/backends.js'
import { expectCleanExit, forkWorker } from '../helpers/processes.js'

// No writer starves. SQLite's write lock has no queue: with four processes each keeping one
// update in flight, raw SQLite lets one of them keep the lock while another gets a handful of
// writes in the whole run (bench/contention.mjs shows it). Tandem's waiters retry every 20-200 µs
// and announce themselves, and a holder that has had the lock for a turn lets them in
// (src/backends/sqlite/sqlite-turns.ts), so every process gets a fair share. Counts, not timings, are asserted: a fair share is 25%, a starved
// process is near 0%, and 10% leaves room for a noisy two-core machine.
const PROCESSES = 4
const RUN_MS = 3000

test(`${PROCESSES} processes hammering one record for ${RUN_MS / 1000} s each get a fair share of the writes`, { timeout: 60_000 }, async () => {
  const dataDir = tempDir()
  const collections = { counters: { writers: '*' } } as const
  const config = (role: string): StoreConfig<typeof collections> => ({ dataDir, path: 'store.db', role, collections })
  const store = await openStore(config('setup'))
  onTestFinished(() => store.close())
  const counters = store.collection('counters')
  await counters.insert({ n: 0 }, { id: 'hot' })

  const workers = Array.from({ length: PROCESSES }, (_, i) =>
    forkWorker('incrementer.mjs', { store: config(`worker-${i}`), collection: 'counters', id: 'hot', durationMs: RUN_MS }),
  )
  await Promise.all(workers.map((w) => w.waitFor('ready')))
  for (const w of workers) w.send({ type: 'go' })
  const reports = await Promise.all(workers.map((w) => w.waitFor('done', 50_000)))
  await Promise.all(workers.map(expectCleanExit))

  const acked = reports.map((r) => r.acked as number)
  const total = acked.reduce((a, b) => a + b, 0)
  const shares = acked.map((n) => n / total)
  console.log(`fair turns: ${total} increments, shares ${shares.map((s) => `${(s * 100).toFixed(1)}%`).join(' / ')}`)

  expect(reports.map((r) => r.errorCount)).toEqual(acked.map(() => 0))
  for (const share of shares) expect(share).toBeGreaterThan(0.1)
  const final = await counters.get('hot')
  expect(final?.data.n).toBe(total)
})
