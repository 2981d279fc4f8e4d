import Database from 'better-sqlite3'
import { describe, expect, test } from 'vitest'
import { SqliteBackend } from '../../src/backends/sqlite/sqlite-backend.js'
import { parseFindOptions } from '../../src/store/query.js'
import { BACKENDS } from '../helpers/backends.js'

const sqlite = BACKENDS.find((b) => b.name === 'sqlite')

describe.runIf(sqlite !== undefined)('SQLite engine settings', () => {
  test.each(['normal', 'full'] as const)('every connection gets every pragma explicitly (durability %s)', async (durability) => {
    const store = await (await sqlite!.tempStore())({ role: 'x', durability, collections: { a: { writers: '*' } } })
    const pragmas = (store.backend as SqliteBackend).pragmas()
    expect(pragmas).toHaveLength(2)
    for (const p of pragmas) {
      expect(p).toEqual({
        journal_mode: 'wal',
        synchronous: durability === 'full' ? 2 : 1,
        foreign_keys: 1,
        journal_size_limit: 4 * 1024 * 1024,
        wal_autocheckpoint: 1000,
        busy_timeout: 0,
        trusted_schema: 0,
      })
    }
  })

  test('declared indexes become real indexes that find uses (EXPLAIN QUERY PLAN)', async () => {
    const store = await (
      await sqlite!.tempStore()
    )({
      role: 'x',
      collections: { sessions: { writers: '*', indexes: ['projectId', 'startedAt', 'owner.name'] } },
    })
    for (let i = 0; i < 50; i++)
      await store.collection('sessions').insert({ projectId: `p${i % 5}`, startedAt: i, owner: { name: `o${i}` } })
    const backend = store.backend as SqliteBackend
    const plan = (options: Parameters<typeof parseFindOptions>[0]) => backend.explainFind('sessions', parseFindOptions(options)).join(' | ')
    expect(plan({ where: { projectId: 'p1' } })).toMatch(/SEARCH c_sessions USING INDEX ix:sessions:projectId/)
    expect(plan({ where: { startedAt: { gte: 10 } }, orderBy: 'startedAt' })).toMatch(/USING INDEX ix:sessions:startedAt/)
    expect(plan({ where: { 'owner.name': 'o3' } })).toMatch(/USING INDEX ix:sessions:owner\.name/)
    expect(plan({ orderBy: '-startedAt', limit: 5 })).toMatch(/SCAN c_sessions USING INDEX ix:sessions:startedAt/)
    expect(plan({ where: { projectId: 'p1' } })).not.toMatch(/TEMP B-TREE/)
    expect(plan({ where: { unindexed: 1 } })).toMatch(/SCAN c_sessions/)
    expect(await store.collection('sessions').count({ projectId: 'p1' })).toBe(10)
  })

  test('the file holds one STRICT table per collection that another program can read', async () => {
    const open = await sqlite!.tempStore()
    const store = await open({ role: 'daemon', collections: { jobs: { writers: '*' } } })
    const r = await store.collection('jobs').insert({ cmd: 'build' })
    const raw = new Database(`${store.settings.dataDir}/store.db`, { readonly: true })
    try {
      const row = raw.prepare('SELECT id, version, role, data FROM c_jobs').get() as Record<string, unknown>
      expect(row).toEqual({ id: r.id, version: 1, role: 'daemon', data: '{"cmd":"build"}' })
      expect(() => raw.prepare("INSERT INTO c_jobs VALUES ('x', 1, 1, 1, 'r', 'not json')").run()).toThrow()
    } finally {
      raw.close()
    }
  })
})
