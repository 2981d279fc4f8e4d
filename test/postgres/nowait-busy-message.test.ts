import pg from 'pg'
import { describe, expect, test } from 'vitest'
import { BusyError, openStore, type Store } from '../../src/index.js'
import type { PostgresBackend } from '../../src/backends/postgres/postgres-backend.js'
import { recordLockKey } from '../../src/backends/postgres/postgres-locks.js'
import { PG_URL, POSTGRES, dropSchemaAfterTest, uniqueSchema } from '../helpers/backends.js'

// A write of a group-commit batch that needs a record lock out of the lock order tries it without
// waiting (NOWAIT). When the lock is taken, its BUSY_TIMEOUT must not claim it waited
// busyTimeoutMs: it waited about 0 ms, and the message says so.

const collections = { events: { writers: '*' } } as const
const BUSY_TIMEOUT_MS = 4321

async function setup(): Promise<{ schema: string; store: Store<typeof collections>; other: pg.Client }> {
  const schema = uniqueSchema('nw')
  const other = new pg.Client({ connectionString: PG_URL, application_name: 'tandem-test-admin' })
  other.on('error', () => undefined)
  let store: Store<typeof collections> | undefined
  dropSchemaAfterTest(schema, async () => {
    await other.end().catch(() => undefined)
    await store?.close().catch(() => undefined)
  })
  store = await openStore({ role: 'x', collections, url: PG_URL, postgres: { schema }, busyTimeoutMs: BUSY_TIMEOUT_MS })
  await other.connect()
  return { schema, store, other }
}

/** In one transaction, a batch job locks "z", then the next job gets `id`, which comes before it in the lock order. */
async function outOfOrderGet(store: Store<typeof collections>, id: string): Promise<unknown> {
  const backend = store.backend as PostgresBackend
  return backend.write(async (tx) => {
    await tx.savepoint(() => tx.get('events', 'z'), { batchJob: true })
    return tx
      .savepoint(() => tx.get('events', id), { batchJob: true })
      .then(
        () => undefined,
        (error: unknown) => error,
      )
  })
}

function expectHonest(error: unknown, id: string): void {
  expect(error).toBeInstanceOf(BusyError)
  const busy = error as BusyError
  expect(busy.code).toBe('BUSY_TIMEOUT')
  expect(busy.waitedMs).toBeLessThan(BUSY_TIMEOUT_MS / 2)
  expect(busy.message).not.toContain(`${BUSY_TIMEOUT_MS} ms (busyTimeoutMs)`)
  expect(busy.message).toContain(`Record events/${id} was locked by another transaction`)
  expect(busy.message).toMatch(/did not wait for it \(it waited \d+ ms\)/)
  expect(busy.collection).toBe('events')
  expect(busy.id).toBe(id)
}

describe.runIf(POSTGRES !== undefined)('PostgreSQL lock tried without waiting', () => {
  test('a row locked elsewhere fails the out-of-order write at once, with a message that says it did not wait', async () => {
    const { schema, store, other } = await setup()
    await store.collection('events').insert({ n: 1 }, { id: 'a' })
    await other.query('BEGIN')
    await other.query(`SELECT id FROM "${schema}"."events" WHERE id = 'a' FOR UPDATE`)
    const started = performance.now()
    const error = await outOfOrderGet(store, 'a')
    expect(performance.now() - started).toBeLessThan(BUSY_TIMEOUT_MS)
    expectHonest(error, 'a')
    await other.query('ROLLBACK')
  })

  test('a missing record whose id lock is held elsewhere fails the out-of-order write at once, with a message that says it did not wait', async () => {
    const { schema, store, other } = await setup()
    await other.query('SELECT pg_advisory_lock($1::bigint)', [recordLockKey(schema, 'events', 'b')])
    const started = performance.now()
    const error = await outOfOrderGet(store, 'b')
    expect(performance.now() - started).toBeLessThan(BUSY_TIMEOUT_MS)
    expectHonest(error, 'b')
  })
})
