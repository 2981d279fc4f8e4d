import { expect, test } from 'vitest'
import { openStore, type StoreConfig } from '../../src/index.js'
import { PG_URL, POSTGRES, dropSchemaAfterTest, uniqueSchema } from '../helpers/backends.js'
import { LAST_RESORT_TIMEOUT_MS, expectCleanExit, forkWorker } from '../helpers/processes.js'

const PROCESSES = 8
const INCREMENTS_EACH = 500

test.runIf(POSTGRES !== undefined)(
  `${PROCESSES} processes incrementing one PostgreSQL record ${INCREMENTS_EACH} times each lose no increment`,
  async () => {
    const schema = uniqueSchema('hot')
    const collections = { counters: { writers: '*' } } as const
    const config = (role: string): StoreConfig<typeof collections> => ({ url: PG_URL, postgres: { schema }, role, collections })

    const store = await openStore(config('setup'))
    dropSchemaAfterTest(schema, () => store.close())
    const counters = store.collection('counters')
    await counters.insert({ n: 0 }, { id: 'hot' })

    // Each child runs its increments as four concurrent loops, so its own write queue batches up to
    // four of them (a savepoint each, one transaction) while the eight processes queue on the row
    // lock: fewer lock handoffs between processes, which is what group commit is for.
    const workers = Array.from({ length: PROCESSES }, (_, i) =>
      forkWorker('incrementer.mjs', { store: config(`worker-${i}`), collection: 'counters', id: 'hot', count: INCREMENTS_EACH, loops: 4 }),
    )
    await Promise.all(workers.map((w) => w.waitFor('ready')))
    const started = performance.now()
    for (const w of workers) w.send({ type: 'go' })
    const reports = await Promise.all(workers.map((w) => w.waitFor('done')))
    const seconds = (performance.now() - started) / 1000
    await Promise.all(workers.map(expectCleanExit))

    const errorCount = reports.reduce((sum, r) => sum + (r.errorCount as number), 0)
    const someErrors = reports.flatMap((r) => r.errors as unknown[]).slice(0, 3)
    const acked = reports.reduce((sum, r) => sum + (r.acked as number), 0)
    const final = await counters.get('hot')
    console.log(
      `postgres hot record: ${acked} acknowledged increments from ${PROCESSES} processes in ${seconds.toFixed(1)} s (${Math.round(acked / seconds)}/s), final n = ${final?.data.n}`,
    )

    expect({ errorCount, someErrors }).toEqual({ errorCount: 0, someErrors: [] })
    expect(acked).toBe(PROCESSES * INCREMENTS_EACH)
    expect(final?.data.n).toBe(acked)
    expect(final?.version).toBe(1 + acked)
    expect(await store.checkIntegrity()).toEqual(['ok'])
  },
  LAST_RESORT_TIMEOUT_MS,
)
