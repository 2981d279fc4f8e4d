import { describe, expect, test } from 'vitest'
import { TARGETS } from '../helpers/backends.js'

// Skipped on remote: tests of the process registry and describe() that check this process's pid and engine (lacks.engine, test/helpers/backends.ts).
describe.each(TARGETS)('configuration on $name', (backend) => {
  test('misspelled and malformed options are refused with the option name and value', async () => {
    const open = await backend.tempStore()
    const collections = { a: { writers: ['x'] } }
    await expect(open({ role: 'x', collections, busyTimeoutMs: -5 })).rejects.toThrow(
      'busyTimeoutMs must be a non-negative integer (got -5).',
    )
    await expect(open({ role: 'x', collections, durabilty: 'full' } as never)).rejects.toThrow(
      /Unknown option "durabilty" in openStore config/,
    )
    await expect(open({ role: 'x', collections, durability: 'fast' as never })).rejects.toThrow(/durability must be "normal" or "full"/)
    await expect(open({ role: 'bad role!', collections })).rejects.toThrow(/role must be/)
    await expect(open({ role: 'x', collections: { a: { writer: ['x'] } as never } })).rejects.toThrow(
      /Unknown option "writer" in collections\.a/,
    )
    await expect(open({ role: 'x', collections: { a: { writers: [] } } })).rejects.toThrow(/writers must be a non-empty array/)
    await expect(open({ role: 'x', collections: { 'bad-name': { writers: '*' } } })).rejects.toThrow(/Collection name "bad-name"/)
    await expect(open({ role: 'x', collections: { a: { writers: '*', indexes: ['a;b'] } } })).rejects.toMatchObject({
      code: 'INVALID_QUERY',
    })
    await expect(open({ role: 'x', collections: { a: { writers: '*', schema: {} as never } } })).rejects.toThrow(/Standard Schema/)
    await expect(open({ role: 'x', collections: { Ab: { writers: '*' }, ab: { writers: '*' } } })).rejects.toThrow(
      /differ by more than case/,
    )
  })

  test('reopening with more collections and indexes keeps existing data', async () => {
    const open = await backend.tempStore()
    const first = await open({ role: 'x', collections: { a: { writers: '*' } } })
    const r = await first.collection('a').insert({ k: 1 })
    await first.close()
    const second = await open({ role: 'x', collections: { a: { writers: '*', indexes: ['k'] }, b: { writers: '*' } } })
    expect(await second.collection('a').find({ where: { k: 1 } })).toEqual([r])
    expect(await second.collection('b').count()).toBe(0)
  })
})

describe.each(TARGETS)('process registry on $name', (backend) => {
  test.skipIf(backend.lacks.engine !== undefined)('every open store is listed with its role and pid until it closes', async () => {
    const open = await backend.tempStore()
    const server = await open({ role: 'server', collections: {} })
    const daemon = await open({ role: 'daemon', collections: {} })
    const listed = await server.processes()
    expect(listed.map((p) => p.role).sort()).toEqual(['daemon', 'server'])
    expect(listed.every((p) => p.pid === process.pid && Date.parse(p.heartbeatAt) > 0)).toBe(true)
    await daemon.close()
    expect((await server.processes()).map((p) => p.role)).toEqual(['server'])
  })
})

describe.each(TARGETS)('describe on $name', (backend) => {
  test.skipIf(backend.lacks.engine !== undefined)(
    'lists collections with counts and declared owners, the change head, consumers and processes',
    async () => {
      const open = await backend.tempStore()
      const server = await open({ role: 'server', collections: { projects: { writers: ['server'], indexes: ['name'] } } })
      const daemon = await open({ role: 'daemon', collections: { sessions: { writers: ['daemon'] } } })
      await server.collection('projects').insert({ name: 'p' })
      await daemon.collection('sessions').insert({ n: 1 })
      await daemon.collection('sessions').insert({ n: 2 })
      const mailer = daemon.consumer('mailer', { start: 'beginning' })
      await mailer.changes()
      await mailer.ack(1)
      const cli = await open({ role: 'cli', collections: {} })
      const d = await cli.describe()
      expect(d.kind).toBe(backend.name)
      // historyBytes: the engine's figure where it tells (test/conformance/history.test.ts).
      expect(d.collections.map(({ historyBytes: _bytes, ...c }) => c)).toEqual([
        { name: 'projects', count: 1, writers: ['server'], indexes: ['name'], declaredBy: 'server', history: 'changes' },
        { name: 'sessions', count: 2, writers: ['daemon'], indexes: [], declaredBy: 'daemon', history: 'changes' },
      ])
      expect(d.changes.head).toBe(3)
      expect(d.consumers).toMatchObject([{ name: 'mailer', position: 1, behind: 2, trimmed: false, holder: { pid: process.pid } }])
      expect(d.processes.map((p) => p.role).sort()).toEqual(['cli', 'daemon', 'server'])
      expect(await cli.checkIntegrity()).toEqual(['ok'])
      expect((await cli.reader('sessions').find()).length).toBe(2)
      await expect(cli.reader('sessions').insert({})).rejects.toMatchObject({ code: 'NOT_OWNER' })
    },
  )
})
