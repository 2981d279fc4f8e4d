import Database from 'better-sqlite3'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { z } from 'zod'
import { importJsonFile, importSqliteTables, ImportError } from '../../src/lifecycle.js'
import { BACKENDS, tempDir } from '../helpers/backends.js'
import { storeState } from '../helpers/transfer.js'

const Project = z.object({ name: z.string(), created_at: z.number(), settings: z.unknown().optional(), archived: z.number() })
const Session = z.object({ project_id: z.number(), started: z.string(), duration: z.number().nullable(), notes: z.string().nullable() })
const collections = {
  projects: { writers: ['server'], schema: Project },
  sessions: { writers: ['daemon'], schema: Session },
  events: { writers: '*' },
  posts: { writers: '*' },
} as const

/** A database laid out like a sql.js app's file: rollback journal, INTEGER PRIMARY KEYs, JSON in TEXT columns. */
function legacyDatabase(dir: string): string {
  const file = join(dir, 'legacy.sqlite')
  const db = new Database(file)
  db.exec(`
    CREATE TABLE projects (id INTEGER PRIMARY KEY, name TEXT NOT NULL, created_at INTEGER NOT NULL, settings TEXT, archived INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE sessions (id INTEGER PRIMARY KEY AUTOINCREMENT, project_id INTEGER REFERENCES projects(id), started TEXT, duration REAL, notes TEXT);
    CREATE TABLE events (kind TEXT, payload TEXT);
    CREATE TABLE pairs (a TEXT, b TEXT, v INTEGER, PRIMARY KEY (a, b)) WITHOUT ROWID;
  `)
  const project = db.prepare('INSERT INTO projects (id, name, created_at, settings) VALUES (?, ?, ?, ?)')
  project.run(1, 'tandem', 1700000000000, JSON.stringify({ theme: 'dark', tags: ['a', 'b'] }))
  project.run(2, 'ünïcode ✓', 1700000000001, null)
  project.run(10, 'gap in ids', 1700000000002, '{}')
  const session = db.prepare('INSERT INTO sessions (project_id, started, duration, notes) VALUES (?, ?, ?, ?)')
  for (let i = 0; i < 120; i++)
    session.run(
      1 + (i % 2),
      `2024-01-01T00:${String(i % 60).padStart(2, '0')}:00Z`,
      i === 5 ? null : i * 1.25,
      i % 7 === 0 ? null : `note ${i}`,
    )
  db.prepare('INSERT INTO events (kind, payload) VALUES (?, ?)').run('start', 'x')
  db.prepare('INSERT INTO events (kind, payload) VALUES (?, ?)').run('stop', 'y')
  db.prepare('INSERT INTO pairs VALUES (?, ?, ?)').run('k1', 'k2', 3)
  db.close()
  return file
}

describe.each(BACKENDS)('legacy imports on $name', (backend) => {
  test('SQLite tables become collections: the primary key is the id, columns are fields, JSON columns are parsed', async () => {
    const store = await (await backend.tempStore())({ role: 'migrator', roles: { migrator: {} }, collections })
    const file = legacyDatabase(tempDir())
    const result = await importSqliteTables(store, {
      file,
      tables: {
        projects: { collection: 'projects', json: ['settings'] },
        sessions: { collection: 'sessions' },
        events: { collection: 'events' },
      },
      onConflict: 'fail',
    })
    expect(result.collections).toEqual({
      events: { inserted: 2, overwritten: 0, skipped: 0 },
      projects: { inserted: 3, overwritten: 0, skipped: 0 },
      sessions: { inserted: 120, overwritten: 0, skipped: 0 },
    })
    expect(await store.collection('projects').get('1')).toMatchObject({
      id: '1',
      version: 1,
      role: 'migrator',
      data: { name: 'tandem', created_at: 1700000000000, settings: { theme: 'dark', tags: ['a', 'b'] }, archived: 0 },
    })
    expect((await store.collection('projects').get('2'))?.data).toEqual({
      name: 'ünïcode ✓',
      created_at: 1700000000001,
      settings: null,
      archived: 0,
    })
    expect((await store.collection('projects').get('10'))?.data.name).toBe('gap in ids')
    expect((await store.collection('sessions').get('6'))?.data).toEqual({
      project_id: 2,
      started: '2024-01-01T00:05:00Z',
      duration: null,
      notes: 'note 5',
    })
    // A table without a primary key: the rowid is the id.
    expect((await store.collection('events').get('2'))?.data).toEqual({ kind: 'stop', payload: 'y' })
  })

  test('another id column, a composite key, BLOBs and huge integers', async () => {
    const store = await (await backend.tempStore())({ role: 'migrator', roles: { migrator: {} }, collections })
    const dir = tempDir()
    const file = legacyDatabase(dir)
    const db = new Database(file)
    db.exec('CREATE TABLE blobs (id INTEGER PRIMARY KEY, body BLOB); CREATE TABLE huge (id INTEGER PRIMARY KEY, n INTEGER)')
    db.prepare('INSERT INTO blobs VALUES (1, ?)').run(Buffer.from([0, 1, 2, 255]))
    db.prepare('INSERT INTO huge VALUES (1, ?)').run(2n ** 60n)
    db.close()

    await expect(importSqliteTables(store, { file, tables: { pairs: { collection: 'events' } }, onConflict: 'fail' })).rejects.toThrow(
      /primary key of 2 columns \(a, b\); say which column holds the record id: tables\.pairs\.id/,
    )
    const pairs = await importSqliteTables(store, { file, tables: { pairs: { collection: 'events', id: 'a' } }, onConflict: 'fail' })
    expect(pairs.records).toBe(1)
    expect((await store.collection('events').get('k1'))?.data).toEqual({ b: 'k2', v: 3 })

    const blob = await importSqliteTables(store, { file, tables: { blobs: { collection: 'posts' } }, onConflict: 'fail' }).catch(
      (e: unknown) => e,
    )
    expect(blob).toBeInstanceOf(ImportError)
    expect((blob as Error).message).toMatch(/^Table "blobs" of legacy\.sqlite, row 1: Column "body" holds a BLOB/)
    await importSqliteTables(store, { file, tables: { blobs: { collection: 'posts' } }, onConflict: 'fail', blobs: 'base64' })
    expect((await store.collection('posts').get('1'))?.data).toEqual({ body: 'AAEC/w==' })

    await expect(importSqliteTables(store, { file, tables: { huge: { collection: 'posts' } }, onConflict: 'skip' })).rejects.toThrow(
      /holds 1152921504606846976, beyond the integers JSON numbers keep exactly/,
    )
    await expect(importSqliteTables(store, { file, tables: { nope: { collection: 'posts' } }, onConflict: 'skip' })).rejects.toThrow(
      /Table "nope" does not exist in the database\. Its tables: blobs, events, huge, pairs, projects, sessions/,
    )
    await expect(
      importSqliteTables(store, { file, tables: { projects: { collection: 'posts', id: 'uuid' } }, onConflict: 'skip' }),
    ).rejects.toThrow(/has no column "uuid"/)
  })

  test('a row the schema refuses rolls back every table of the import, and names its table and row', async () => {
    const store = await (await backend.tempStore())({ role: 'migrator', roles: { migrator: {} }, collections })
    const file = legacyDatabase(tempDir())
    const db = new Database(file)
    db.prepare("UPDATE sessions SET duration = 'not a number' WHERE id = 77").run()
    db.close()
    const before = await storeState(store)
    const error = await importSqliteTables(store, {
      file,
      tables: { projects: { collection: 'projects' }, sessions: { collection: 'sessions' } },
      onConflict: 'fail',
    }).catch((e: unknown) => e)
    expect(error).toMatchObject({
      code: 'SCHEMA_INVALID',
      location: 'table "sessions" of legacy.sqlite, row 77',
      collection: 'sessions',
      id: '77',
    })
    expect(await storeState(store)).toEqual(before)
    // dryRun reports the counts and writes nothing.
    const dry = await importSqliteTables(store, {
      file,
      tables: { projects: { collection: 'projects', json: ['settings'] } },
      onConflict: 'fail',
      dryRun: true,
    })
    expect(dry).toMatchObject({ dryRun: true, records: 3 })
    expect(await storeState(store)).toEqual(before)
  })

  test('JSON files: an array of records (ids from a field), an object of id → record, under a top-level key', async () => {
    const store = await (await backend.tempStore())({ role: 'app', roles: { app: {} }, collections })
    const dir = tempDir()
    const lowdb = join(dir, 'db.json')
    writeFileSync(
      lowdb,
      JSON.stringify({
        posts: [{ id: 1, title: 'first', tags: ['x'] }, { id: 'two', title: 'second' }, { title: 'no id' }],
        profile: { name: 'me' },
      }),
    )
    const result = await importJsonFile(store, { file: lowdb, key: 'posts', collection: 'posts', onConflict: 'fail' })
    expect(result.collections).toEqual({ posts: { inserted: 3, overwritten: 0, skipped: 0 } })
    expect((await store.collection('posts').get('1'))?.data).toEqual({ title: 'first', tags: ['x'] })
    expect((await store.collection('posts').get('two'))?.data).toEqual({ title: 'second' })
    expect((await store.collection('posts').find({ where: { title: 'no id' } }))[0]?.id).toMatch(/^[0-9A-Z]{26}$/)

    const map = join(dir, 'events.json')
    writeFileSync(map, JSON.stringify({ e1: { kind: 'start' }, e2: { kind: 'stop', at: 3 } }))
    expect((await importJsonFile(store, { file: map, collection: 'events', onConflict: 'fail' })).records).toBe(2)
    expect((await store.collection('events').get('e2'))?.data).toEqual({ kind: 'stop', at: 3 })
    // Again, with a policy: all skipped.
    expect((await importJsonFile(store, { file: map, collection: 'events', onConflict: 'skip' })).collections).toEqual({
      events: { inserted: 0, overwritten: 0, skipped: 2 },
    })

    const custom = join(dir, 'custom.json')
    writeFileSync(custom, JSON.stringify([{ key: 'k1', v: 1 }]))
    await importJsonFile(store, { file: custom, collection: 'events', idField: 'key', onConflict: 'fail' })
    expect((await store.collection('events').get('k1'))?.data).toEqual({ v: 1 })
  })

  test('a bad JSON item stops the import naming it, and nothing is written', async () => {
    const store = await (await backend.tempStore())({ role: 'app', roles: { app: {} }, collections })
    const dir = tempDir()
    const before = await storeState(store)
    const file = join(dir, 'bad.json')
    writeFileSync(file, '[{"id":1,"ok":true},{"id":2,"__proto__":{"polluted":true}}]')
    expect(await importJsonFile(store, { file, collection: 'posts', onConflict: 'fail' }).catch((e: unknown) => e)).toMatchObject({
      code: 'INVALID_DATA',
      location: 'item 1 of bad.json',
    })
    writeFileSync(file, '{"a":{"ok":true},"b":"not a record"}')
    expect(await importJsonFile(store, { file, collection: 'posts', onConflict: 'fail' }).catch((e: unknown) => e)).toMatchObject({
      code: 'INVALID_DATA',
      location: 'key "b" of bad.json',
    })
    writeFileSync(file, '[{"id":1.5}]')
    expect(await importJsonFile(store, { file, collection: 'posts', onConflict: 'fail' }).catch((e: unknown) => e)).toMatchObject({
      code: 'INVALID_DATA',
      message: expect.stringMatching(/an id must be a string or an integer/),
    })
    writeFileSync(file, '{"posts": 3}')
    await expect(importJsonFile(store, { file, key: 'posts', collection: 'posts', onConflict: 'fail' })).rejects.toThrow(
      /not an array or an object of records/,
    )
    writeFileSync(file, '[{"id": 1},')
    await expect(importJsonFile(store, { file, collection: 'posts', onConflict: 'fail' })).rejects.toThrow(/bad\.json is not valid JSON/)
    await expect(importJsonFile(store, { file, collection: 'ghosts', onConflict: 'fail' })).rejects.toMatchObject({
      code: 'UNKNOWN_COLLECTION',
    })
    expect(await storeState(store)).toEqual(before)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })
})
