import { expect, onTestFinished, test } from 'vitest'
import { openStore, type StoreConfig } from '../../src/index.js'
import { tempDir } from '../helpers/backends.js'
import { LAST_RESORT_TIMEOUT_MS, expectCleanExit, forkWorker, waitUntil } from '../helpers/processes.js'

// No writer starves. SQLite's write lock has no queue: with four processes each keeping one
// update in flight, raw SQLite lets one of them keep the lock while another gets a handful of
// writes in the whole run (bench/contention.mjs shows it). Tandem's waiters retry every 20-200 µs
// and announce themselves, and a holder that has had the lock for a turn lets them in
// (src/backends/sqlite/sqlite-locks.ts), so every process gets a fair share. Counts, not timings, are asserted: a fair share is 25%, a starved
// process is near 0%, and 10% leaves room for a noisy two-core machine. The run is a number of
// writes, not a time: the processes go on until TOTAL increments are acknowledged in all, so a
// loaded machine makes it slower but measures the same thing.
const PROCESSES = 4
const TOTAL = 20_000

test(
  `${PROCESSES} processes hammering one record each get a fair share of ${TOTAL.toLocaleString('en')} increments`,
  { timeout: LAST_RESORT_TIMEOUT_MS },
  async () => {
    const dataDir = tempDir()
    const collections = { counters: { writers: '*' } } as const
    const config = (role: string): StoreConfig<typeof collections> => ({ dataDir, path: 'store.db', role, collections })
    const store = await openStore(config('setup'))
    onTestFinished(() => store.close())
    const counters = store.collection('counters')
    await counters.insert({ n: 0 }, { id: 'hot' })

    const workers = Array.from({ length: PROCESSES }, (_, i) =>
      forkWorker('incrementer.mjs', {
        store: config(`worker-${i}`),
        collection: 'counters',
        id: 'hot',
        untilStop: true,
        progressEvery: 50,
      }),
    )
    await Promise.all(workers.map((w) => w.waitFor('ready')))
    for (const w of workers) w.send({ type: 'go' })
    // Each worker's latest progress report: how many of its increments were acknowledged so far.
    const progress = workers.map(() => 0)
    workers.forEach((w, i) => w.onMessage((m) => m.type === 'progress' && (progress[i] = m.acked as number)))
    const sum = () => progress.reduce((a, b) => a + b, 0)
    await waitUntil(() => sum() >= TOTAL || workers.some((w) => !w.running), `${TOTAL} increments in all`, { progress: sum })
    for (const w of workers) w.send({ type: 'stop' })
    const reports = await Promise.all(workers.map((w) => w.waitFor('done')))
    await Promise.all(workers.map(expectCleanExit))

    const acked = reports.map((r) => r.acked as number)
    const total = acked.reduce((a, b) => a + b, 0)
    const shares = acked.map((n) => n / total)
    console.log(`fair turns: ${total} increments, shares ${shares.map((s) => `${(s * 100).toFixed(1)}%`).join(' / ')}`)

    expect(reports.map((r) => r.errorCount)).toEqual(acked.map(() => 0))
    for (const share of shares) expect(share).toBeGreaterThan(0.1)
    const final = await counters.get('hot')
    expect(final?.data.n).toBe(total)
  },
)
