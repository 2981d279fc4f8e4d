import Database from 'better-sqlite3'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { openStore, TandemError, type CollectionsConfig, type Migration, type Store, type StoreConfig } from '../../src/index.js'
import {
  checksumStore,
  copyStore,
  CopyVerificationError,
  exportRecords,
  type CopyProgress,
  type ExportedRecord,
} from '../../src/lifecycle.js'
import { dropSchemaAfterTest, PG_URL, pgAdmin, POSTGRES, tempDir, uniqueSchema } from '../helpers/backends.js'
import { runCli, runCliJson } from '../helpers/cli.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const migrations: Migration[] = [{ version: 1, name: 'priority', up: async (m) => void (await m.backfill('tasks', 'priority', () => 1)) }]
const collections = {
  tasks: {
    writers: ['app', 'worker'],
    indexes: ['status', 'owner.id'],
    seed: [{ id: 'welcome', data: { title: 'welcome', status: 'open' } }],
  },
  events: { writers: ['worker'] },
  empty: { writers: '*' },
} as const satisfies CollectionsConfig

function appConfig(where: Pick<StoreConfig, 'path' | 'url' | 'postgres'>, role = 'app'): StoreConfig<typeof collections> {
  return { ...where, role, collections, migrations }
}

/** A fresh PostgreSQL schema, dropped when the test ends (every store on it must be closed by then). */
function pgPlace(): { url: string; postgres: { schema: string } } {
  const schema = uniqueSchema('copy')
  dropSchemaAfterTest(schema)
  return { url: PG_URL, postgres: { schema } }
}

/**
 * An SQLite store written by two roles: records with keys in no particular order (PostgreSQL's
 * JSONB will reorder them), nested objects, arrays, unicode, edge numbers; custom ids whose
 * bytewise order differs from a locale's; updated (versions above 1, updatedAt after createdAt),
 * deleted, and a seed record the user deleted. 130 tasks: several pages at batch size 16.
 */
async function sourceStore(dir: string): Promise<string> {
  const path = join(dir, 'source.db')
  const app = await openStore(appConfig({ path }))
  const worker = await openStore(appConfig({ path }, 'worker'))
  try {
    const tasks = app.collection('tasks')
    const ids = ['B', 'a', 'é', 'Z9', '~tilde', 'a b', '😀']
    for (const [i, id] of ids.entries())
      await tasks.insert({ zeta: i, alpha: 'x', nested: { z: [3, { y: 1, b: null }], a: true }, status: 'open', owner: { id: i } }, { id })
    for (let i = 0; i < 123; i++) {
      await tasks.insert({
        title: `task ${i}`,
        status: i % 3 === 0 ? 'done' : 'open',
        n: [0.1, -5, 1e21, 2 ** 53 - 1, -0.25][i % 5]!,
        ünï: 'cödé',
        tags: i % 2 === 0 ? [] : ['x', 'y'],
        owner: { kind: 'user', id: i % 7 },
      })
    }
    await sleep(5)
    await worker.collection('tasks').patch('a', { status: 'done' })
    await app.collection('tasks').update('a', (d) => ({ ...d, note: 'twice' }))
    await worker.collection('tasks').patch('B', { status: 'blocked' })
    await app.collection('tasks').delete('Z9')
    await app.collection('tasks').delete('welcome')
    for (let i = 0; i < 40; i++) await worker.collection('events').insert({ i, kind: i % 2 === 0 ? 'start' : 'stop' })
  } finally {
    await worker.close()
    await app.close()
  }
  return path
}

/** Every record of every collection, metadata included; data compared as values (key order aside). */
async function records<C extends CollectionsConfig>(store: Store<C>): Promise<ExportedRecord[]> {
  const all: ExportedRecord[] = []
  for await (const record of exportRecords(store)) all.push(record)
  return all
}

/** Opens a store as the app would (with its migrations), runs `work`, closes it. */
async function withApp<T>(
  where: Pick<StoreConfig, 'path' | 'url' | 'postgres'>,
  work: (store: Store<typeof collections>) => Promise<T>,
): Promise<T> {
  const store = await openStore(appConfig(where))
  try {
    return await work(store)
  } finally {
    await store.close()
  }
}

describe.runIf(POSTGRES !== undefined)('tandem copy: SQLite <-> PostgreSQL', () => {
  test('SQLite -> PostgreSQL -> SQLite gives back every record with its id, version, timestamps, role and data', async () => {
    const dir = tempDir()
    const source = await sourceStore(dir)
    const pg = pgPlace()
    const back = join(dir, 'back.db')
    const progress: CopyProgress[] = []

    const there = await copyStore({ from: { path: source }, to: pg, batchSize: 16, onProgress: (p) => progress.push(p) })
    const again = await copyStore({ from: pg, to: { path: back }, batchSize: 16 })

    expect(there).toMatchObject({ ok: true, records: 129 + 40 + 1 + 1, snapshot: true, from: { kind: 'sqlite' }, to: { kind: 'postgres' } })
    expect(again).toMatchObject({ ok: true, records: there.records, snapshot: false, from: { kind: 'postgres' }, to: { kind: 'sqlite' } })
    expect(there.collections.map((c) => [c.collection, c.count, c.ok])).toEqual([
      ['empty', 0, true],
      ['events', 40, true],
      ['tasks', 129, true],
      ['_migrations', 1, true],
      ['_seeds', 1, true],
    ])
    // The checksum is the same on all three stores: computed identically whatever the engine.
    expect(again.collections.map((c) => c.checksum)).toEqual(there.collections.map((c) => c.checksum))
    for (const c of [...there.collections, ...again.collections]) expect(c.target.checksum).toBe(c.checksum)

    // Record for record, metadata included.
    const [original, onPostgres, final] = await Promise.all([
      withApp({ path: source }, records),
      withApp(pg, records),
      withApp({ path: back }, records),
    ])
    expect(original).toHaveLength(169)
    expect(onPostgres).toEqual(original)
    expect(final).toEqual(original)
    expect(original.filter((r) => r.version > 1).map((r) => [r.id, r.version, r.role])).toEqual([
      ['B', 2, 'worker'],
      ['a', 3, 'app'],
    ])
    // PostgreSQL really did reorder the keys (JSONB: shorter first), and the checksum did not mind.
    const key = (rs: ExportedRecord[]) => Object.keys(rs.find((r) => r.id === 'é')!.data)
    expect(key(original)).toEqual(['zeta', 'alpha', 'nested', 'status', 'owner'])
    expect(key(onPostgres)).not.toEqual(key(original))
    expect(key(final)).toEqual(key(onPostgres))

    // The copy is the migrated store it was: migrations not run again, the deleted seed not back.
    for (const where of [pg, { path: back }]) {
      await withApp(where, async (store) => {
        expect(store.migrations.outcomes.map((o) => o.status)).toEqual(['already-applied'])
        expect(await store.collection('tasks').get('welcome')).toBeUndefined()
      })
    }
    // The source's declared indexes exist on PostgreSQL (beside the primary key and the created_seq
    // index every table has); each copied record is in the target's change log.
    const indexes = await pgAdmin((c) =>
      c.query<{ indexname: string }>('SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = $2', [
        pg.postgres.schema,
        'tasks',
      ]),
    )
    expect(indexes.rows.filter((r) => r.indexname.startsWith('ix:'))).toHaveLength(2)
    expect(indexes.rows.map((r) => r.indexname)).toEqual(expect.arrayContaining(['pk:tasks', 'created:tasks']))
    expect(indexes.rows.length).toBe(4)
    const changes = await pgAdmin((c) =>
      c.query<{ n: string }>(`SELECT count(*) AS n FROM "${pg.postgres.schema}"._tandem_changes WHERE op = 'insert'`),
    )
    expect(Number(changes.rows[0]!.n)).toBe(169)

    // Progress: after every batch, per phase, ending at the totals.
    const copying = progress.filter((p) => p.phase === 'copy')
    expect(copying.at(-1)).toMatchObject({ recordsDone: 171, recordsTotal: 171 })
    expect(copying.filter((p) => p.collection === 'tasks').map((p) => p.done)).toEqual([16, 32, 48, 64, 80, 96, 112, 128, 129])
    expect(progress.filter((p) => p.phase === 'verify').at(-1)).toMatchObject({ recordsDone: 171, recordsTotal: 171 })
  })

  test('a non-empty target is refused with nothing written; overwrite replaces its records', async () => {
    const dir = tempDir()
    const source = await sourceStore(dir)
    const pg = pgPlace()
    await copyStore({ from: { path: source }, to: pg })
    await withApp({ path: source }, (store) => store.collection('tasks').insert({ title: 'late' }, { id: 'late' }))
    const before = await withApp(pg, records)

    const refused = await copyStore({ from: { path: source }, to: pg }).catch((error: unknown) => error)
    expect(refused).toBeInstanceOf(TandemError)
    expect(refused).toMatchObject({
      code: 'TARGET_NOT_EMPTY',
      message: expect.stringMatching(/"events" \(40\), "tasks" \(129\), "_migrations" \(1\), "_seeds" \(1\)/),
    })
    expect(await withApp(pg, records)).toEqual(before)

    const replaced = await copyStore({ from: { path: source }, to: pg, overwrite: true, batchSize: 50 })
    expect(replaced.ok).toBe(true)
    expect(Object.fromEntries(replaced.collections.map((c) => [c.collection, [c.count, c.removed]]))).toEqual({
      empty: [0, 0],
      events: [40, 40],
      tasks: [130, 129],
      _migrations: [1, 1],
      _seeds: [1, 1],
    })
    expect(await withApp(pg, records)).toEqual(await withApp({ path: source }, records))
  })

  test('a target changed between the copy and its verification is reported per collection', async () => {
    const dir = tempDir()
    const source = await sourceStore(dir)
    const pg = pgPlace()
    await copyStore({ from: { path: source }, to: pg })
    const target = join(dir, 'target.db')
    // onProgress runs synchronously when the last batch has committed, just before the target is read back.
    const tamper = (p: CopyProgress) => {
      if (p.phase !== 'copy' || p.recordsDone !== p.recordsTotal) return
      const db = new Database(target)
      db.prepare(`UPDATE "c_tasks" SET data = json_set(data, '$.status', 'tampered') WHERE id = 'a'`).run()
      db.prepare(`DELETE FROM "c_events" WHERE id = (SELECT min(id) FROM "c_events")`).run()
      db.close()
    }

    const error = await copyStore({ from: pg, to: { path: target }, onProgress: tamper }).catch((e: unknown) => e)

    expect(error).toBeInstanceOf(CopyVerificationError)
    const { result, code, message } = error as CopyVerificationError
    expect(code).toBe('COPY_MISMATCH')
    expect(message).toMatch(/in 2 of 5 collections: "events": source 40 records .*target 39 .*"tasks": source 129 records/)
    expect(result.ok).toBe(false)
    const by = Object.fromEntries(result.collections.map((c) => [c.collection, c]))
    expect(by.tasks).toMatchObject({ ok: false, count: 129, target: { count: 129 } })
    expect(by.tasks!.target.checksum).not.toBe(by.tasks!.checksum)
    expect(by.events).toMatchObject({ ok: false, count: 40, target: { count: 39 } })
    expect([by.empty!.ok, by._migrations!.ok, by._seeds!.ok]).toEqual([true, true, true])
  })

  test('checksumStore tells two stores apart by any record or metadata change, never by key order', async () => {
    const dir = tempDir()
    const source = await sourceStore(dir)
    const pg = pgPlace()
    const copied = await copyStore({ from: { path: source }, to: pg })
    const sums = (where: Pick<StoreConfig, 'path' | 'url' | 'postgres'>) => withApp(where, (store) => checksumStore(store, { pageSize: 7 }))
    const expected = copied.collections
      .filter((c) => !c.collection.startsWith('_'))
      .map(({ collection, count, checksum }) => ({ collection, count, checksum }))
    expect(await sums(pg)).toEqual(expected)
    expect(await sums({ path: source })).toEqual(expected)

    // Same values, keys written in another order: the same checksum.
    const db = new Database(source)
    const row = db.prepare(`SELECT data FROM "c_tasks" WHERE id = 'é'`).get() as { data: string }
    const reversed = Object.fromEntries(Object.entries(JSON.parse(row.data) as object).reverse())
    db.prepare(`UPDATE "c_tasks" SET data = ? WHERE id = 'é'`).run(JSON.stringify(reversed))
    db.close()
    expect(await sums({ path: source })).toEqual(expected)

    // One version number changed on PostgreSQL: only that collection's checksum differs.
    await pgAdmin((c) => c.query(`UPDATE "${pg.postgres.schema}".tasks SET version = version + 1 WHERE id = 'B'`))
    const changed = await sums(pg)
    expect(changed.map((c) => c.checksum === expected.find((e) => e.collection === c.collection)!.checksum)).toEqual([true, true, false])
    expect(changed.map((c) => c.count)).toEqual(expected.map((c) => c.count))
  })

  test('the CLI copies SQLite -> PostgreSQL -> SQLite, refuses a non-empty target, and prints no progress off a terminal', async () => {
    const dir = tempDir()
    const source = await sourceStore(dir)
    const { postgres } = pgPlace()
    const back = join(dir, 'back.db')

    const there = runCliJson<{ ok: boolean; records: number; collections: { collection: string; checksum: string; ok: boolean }[] }>([
      'copy',
      source,
      PG_URL,
      '--to-schema',
      postgres.schema,
      '--batch-size',
      '25',
    ])
    expect(there.status).toBe(0)
    expect(there.result).toMatchObject({ ok: true, records: 171 })
    const human = runCli(['copy', PG_URL, back, '--from-schema', postgres.schema])
    expect(human.status).toBe(0)
    expect(human.stderr).toBe('')
    expect(human.stdout).toMatch(/^ {2}tasks +129 {2}[0-9a-f]{16} {2}ok$/m)
    expect(human.stdout).toMatch(
      /Copied 171 records from postgres:\/\/.* \(postgres\) to .*back\.db \(sqlite\) in .*; counts and checksums match\./,
    )
    const tasks = there.result.collections.find((c) => c.collection === 'tasks')!
    expect(human.stdout).toContain(tasks.checksum.slice(0, 16))

    const refused = runCliJson<{ error: { code: string; hint: string } }>(['copy', source, back])
    expect(refused.status).toBe(3)
    expect(refused.result.error).toMatchObject({ code: 'TARGET_NOT_EMPTY', hint: expect.stringContaining('--overwrite') })
    const replaced = runCliJson<{ ok: boolean; collections: { collection: string; removed: number }[] }>([
      'copy',
      source,
      back,
      '--overwrite',
    ])
    expect(replaced.status).toBe(0)
    expect(replaced.result.collections.find((c) => c.collection === 'tasks')).toMatchObject({ removed: 129 })

    const usage = runCli(['copy', source, back, '--from-schema', 'x'])
    expect(usage.status).toBe(2)
    expect(usage.stderr).toMatch(/--from-schema is for a PostgreSQL url/)
    const missing = runCli(['copy', join(dir, 'nope.db'), back])
    expect(missing.status).toBe(2)
    expect(missing.stderr).toMatch(/STORE_NOT_FOUND/)
  })
})
