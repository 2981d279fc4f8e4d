import { expect, onTestFinished, test } from 'vitest'
import { openStore, type StoreConfig } from '../../src/index.js'
import { tempDir } from '../helpers/backends.js'
import { LAST_RESORT_TIMEOUT_MS, expectCleanExit, forkWorker } from '../helpers/processes.js'

const PROCESSES = 8
const INCREMENTS_EACH = 500

test(
  `${PROCESSES} processes incrementing one record ${INCREMENTS_EACH} times each lose no increment`,
  { timeout: LAST_RESORT_TIMEOUT_MS },
  async () => {
    const dataDir = tempDir()
    const collections = { counters: { writers: '*' } } as const
    const config = (role: string): StoreConfig<typeof collections> => ({ dataDir, path: 'store.db', role, collections })

    const store = await openStore(config('setup'))
    onTestFinished(() => store.close())
    const counters = store.collection('counters')
    await counters.insert({ n: 0 }, { id: 'hot' })

    // Each child runs its increments as two concurrent loops, so its own write queue batches some of
    // them while the eight processes fight over the lock.
    const workers = Array.from({ length: PROCESSES }, (_, i) =>
      forkWorker('incrementer.mjs', { store: config(`worker-${i}`), collection: 'counters', id: 'hot', count: INCREMENTS_EACH, loops: 2 }),
    )
    await Promise.all(workers.map((w) => w.waitFor('ready')))
    for (const w of workers) w.send({ type: 'go' })
    const reports = await Promise.all(workers.map((w) => w.waitFor('done')))
    await Promise.all(workers.map(expectCleanExit))

    const errorCount = reports.reduce((sum, r) => sum + (r.errorCount as number), 0)
    const someErrors = reports.flatMap((r) => r.errors as unknown[]).slice(0, 3)
    const acked = reports.reduce((sum, r) => sum + (r.acked as number), 0)
    const final = await counters.get('hot')
    console.log(`hot record: ${acked} acknowledged increments from ${PROCESSES} processes, final n = ${final?.data.n}`)

    expect({ errorCount, someErrors }).toEqual({ errorCount: 0, someErrors: [] })
    expect(acked).toBe(PROCESSES * INCREMENTS_EACH)
    expect(final?.data.n).toBe(acked)
    expect(final?.version).toBe(1 + acked)
    await store.close()
  },
)
