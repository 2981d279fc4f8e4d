import { describe, expect, test } from 'vitest'
import { TandemError, type Migration } from '../../src/index.js'
import { TARGETS } from '../helpers/backends.js'

const base = { role: 'server', collections: { projects: { writers: ['server'] }, sessions: { writers: ['daemon'] } } } as const

// Not on remote: migrations are functions, run by the process that opens the store (lacks.migrations).
describe.each(TARGETS.filter((b) => b.lacks.migrations === undefined))('migrations on $name', (backend) => {
  test('each migration runs once; reopening reports them as already applied', async () => {
    const open = await backend.tempStore()
    let runs = 0
    const migrations: Migration[] = [
      { version: 1, name: 'first', up: async (m) => void (runs++, await (await m.collection('projects')).insert({ name: 'seeded by 1' })) },
      { version: 2, name: 'second', up: () => void runs++ },
    ]
    const first = await open({ ...base, migrations })
    expect(first.migrations.outcomes.map((o) => o.status)).toEqual(['applied', 'applied'])
    expect(first.migrations.storeVersion).toBe(2)
    const second = await open({ ...base, migrations })
    expect(second.migrations.outcomes.map((o) => o.status)).toEqual(['already-applied', 'already-applied'])
    expect(runs).toBe(2)
    expect(await second.collection('projects').count()).toBe(1)
  })

  test('a failing migration rolls back completely and the store refuses to open, naming it', async () => {
    const open = await backend.tempStore()
    const good: Migration = { version: 1, name: 'good', up: async (m) => void (await (await m.collection('projects')).insert({ by: 1 })) }
    const bad: Migration = {
      version: 2,
      name: 'split-activity',
      up: async (m) => {
        await (await m.collection('projects')).insert({ by: 2 })
        await m.addIndex('projects', 'by')
        throw new Error('column missing')
      },
    }
    const error = await open({ ...base, migrations: [good, bad] }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(TandemError)
    expect(error).toMatchObject({ code: 'MIGRATION_FAILED' })
    expect((error as Error).message).toMatch(/^Migration 2 "split-activity" failed and was rolled back: column missing/)
    const fixed = await open({ ...base, migrations: [good, { ...bad, up: () => undefined }] })
    expect(fixed.migrations.outcomes.map((o) => o.status)).toEqual(['already-applied', 'applied'])
    expect((await fixed.collection('projects').find()).map((r) => r.data.by)).toEqual([1])
  })

  test('an older program refuses to write a store migrated further, or opens read-only by option', async () => {
    const open = await backend.tempStore()
    const v1: Migration = { version: 1, name: 'one', up: () => undefined }
    const v2: Migration = { version: 2, name: 'two', up: () => undefined }
    const newer = await open({ ...base, migrations: [v1, v2] })
    await newer.collection('projects').insert({ name: 'p' })
    await expect(open({ ...base, migrations: [v1] })).rejects.toMatchObject({
      code: 'SCHEMA_TOO_NEW',
      message: expect.stringMatching(/store schema is at version 2, this program knows 1/),
    })
    const old = await open({ ...base, migrations: [v1], onNewerSchema: 'read-only' })
    expect(await old.collection('projects').count()).toBe(1)
    await expect(old.collection('projects').insert({ name: 'q' })).rejects.toMatchObject({ code: 'SCHEMA_TOO_NEW' })
    expect(await newer.collection('projects').count()).toBe(1)
  })

  test('a changed migration is reported, not re-run', async () => {
    const open = await backend.tempStore()
    await open({ ...base, migrations: [{ version: 1, name: 'one', up: (m) => m.addIndex('projects', 'a') }] })
    const again = await open({ ...base, migrations: [{ version: 1, name: 'one', up: (m) => m.addIndex('projects', 'edited') }] })
    expect(again.migrations.outcomes).toEqual([{ version: 1, name: 'one', status: 'checksum-changed' }])
  })

  test('bad migration lists are refused before anything runs', async () => {
    const open = await backend.tempStore()
    await expect(
      open({
        ...base,
        migrations: [
          { version: 2, name: 'b', up: () => undefined },
          { version: 1, name: 'a', up: () => undefined },
        ],
      }),
    ).rejects.toThrow(/strictly increasing/)
    await expect(open({ ...base, migrations: [{ version: 0, name: 'a', up: () => undefined }] })).rejects.toThrow(RangeError)
  })

  test('helpers: rename a field, backfill, add and drop an index', async () => {
    const open = await backend.tempStore()
    const before = await open({ ...base })
    const p = await before.collection('projects').insert({ title: 'a' })
    await before.collection('projects').insert({ title: 'b', owner: 'kept' })
    await before.close()
    const after = await open({
      ...base,
      migrations: [
        {
          version: 1,
          name: 'title-to-name',
          up: async (m) => {
            expect(await m.renameField('projects', 'title', 'name')).toBe(2)
            expect(await m.backfill('projects', 'owner', (d) => `owner of ${d.name}`)).toBe(1)
            await m.addIndex('projects', 'name')
            await m.dropIndex('projects', 'name')
          },
        },
      ],
    })
    expect((await after.collection('projects').find()).map((r) => r.data)).toEqual([
      { name: 'a', owner: 'owner of a' },
      { owner: 'kept', name: 'b' },
    ])
    expect((await after.collection('projects').get(p.id))?.version).toBe(3)
  })

  test('split one collection into two by owner: the migration that separates daemon activity from server configuration', async () => {
    const open = await backend.tempStore()
    const legacy = await open({ role: 'app', collections: { activity: { writers: '*' } } })
    const ids = []
    for (let i = 0; i < 30; i++) ids.push((await legacy.collection('activity').insert({ kind: i % 3 === 0 ? 'project' : 'session', i })).id)
    await legacy.close()
    const split = await open({
      ...base,
      migrations: [
        {
          version: 1,
          name: 'split-activity',
          up: async (m) => {
            expect(await m.moveRecords('activity', 'projects', { kind: 'project' })).toBe(10)
            expect(await m.moveCollection('activity', 'sessions')).toBe(20)
          },
        },
      ],
    })
    const projects = await split.collection('projects').find()
    const sessions = await split.collection('sessions').find()
    expect(projects.map((r) => r.data.kind)).toEqual(Array(10).fill('project'))
    expect(sessions.map((r) => r.data.kind)).toEqual(Array(20).fill('session'))
    expect([...projects, ...sessions].map((r) => r.id).sort()).toEqual([...ids].sort())
    expect(projects.every((r) => r.version === 1 && r.role === 'app')).toBe(true)
  })
})
