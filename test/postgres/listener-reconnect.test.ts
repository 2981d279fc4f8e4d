import { expect, test } from 'vitest'
import { openStore, type StoreConfig } from '../../src/index.js'
import { PG_URL, POSTGRES, dropSchemaAfterTest, pgAdmin, uniqueSchema } from '../helpers/backends.js'
import { LAST_RESORT_TIMEOUT_MS, expectCleanExit, forkWorker, sleep, type WorkerHandle } from '../helpers/processes.js'

const collections = { events: { writers: '*' } } as const

/** The pid of the schema's LISTEN connection, once there is one other than `not`. */
async function listenerPid(schema: string, not?: number): Promise<number> {
  for (let i = 0; i < 500; i++) {
    const pids = await pgAdmin(async (c) =>
      (
        await c.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE application_name = $1`, [`tandem-listen:${schema}`])
      ).rows.map((r) => r.pid),
    )
    const found = pids.find((pid) => pid !== not)
    if (found !== undefined && pids.length === 1) return found
    await sleep(10)
  }
  throw new Error(`No LISTEN connection for schema ${schema} came up.`)
}

function received(worker: WorkerHandle): number {
  return worker.messages.filter((m) => m.type === 'change').length
}

test.runIf(POSTGRES !== undefined)(
  'a subscriber whose LISTEN connection is terminated twice while writes go on reconnects and gets every change exactly once, in order',
  async () => {
    const schema = uniqueSchema('listen')
    const config = (role: string): StoreConfig<typeof collections> => ({ url: PG_URL, postgres: { schema }, role, collections })
    const setup = await openStore(config('setup'))
    dropSchemaAfterTest(schema, () => setup.close())
    const COUNT = 600

    const subscriber = forkWorker('change-recorder.mjs', { store: config('subscriber'), since: 'beginning', until: COUNT })
    const writer = forkWorker('batch-inserter.mjs', {
      store: config('writer'),
      collection: 'events',
      writer: 'w',
      count: COUNT,
      loops: 2,
      pauseMs: 3,
    })
    await Promise.all([subscriber.waitFor('ready'), writer.waitFor('ready')])
    const firstListener = await listenerPid(schema)
    writer.send({ type: 'go' })

    // Kill the listener's server session twice, while changes keep coming.
    await subscriber.waitFor(() => received(subscriber) >= 100)
    await pgAdmin((c) => c.query('SELECT pg_terminate_backend($1)', [firstListener]))
    const secondListener = await listenerPid(schema, firstListener)
    const atSecondKill = received(subscriber)
    await subscriber.waitFor(() => received(subscriber) >= atSecondKill + 100)
    await pgAdmin((c) => c.query('SELECT pg_terminate_backend($1)', [secondListener]))
    await listenerPid(schema, secondListener)

    const done = await writer.waitFor('done')
    expect(done.errors).toEqual([])
    const end = await subscriber.waitFor('end')
    await expectCleanExit(subscriber)

    const changes = subscriber.messages.filter((m) => m.type === 'change')
    const seqs = changes.map((m) => m.seq as number)
    expect(seqs).toEqual(seqs.map((_, i) => i + 1))
    expect(new Set(changes.map((m) => m.n)).size).toBe(COUNT)
    // Up three times: at start, and after each kill.
    expect(end.listenerConnections).toBe(3)
  },
  LAST_RESORT_TIMEOUT_MS,
)
