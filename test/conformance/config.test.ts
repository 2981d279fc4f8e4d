import { describe, expect, test } from 'vitest'
import { BACKENDS } from '../helpers/backends.js'

describe.each(BACKENDS)('configuration on $name', (backend) => {
  test('misspelled and malformed options are refused with the option name and value', async () => {
    const open = await backend.tempStore()
    const collections = { a: { writers: ['x'] } }
    await expect(open({ role: 'x', collections, busyTimeoutMs: -5 })).rejects.toThrow('busyTimeoutMs must be a non-negative integer (got -5).')
    await expect(open({ role: 'x', collections, durabilty: 'full' } as never)).rejects.toThrow(/Unknown option "durabilty" in openStore config/)
    await expect(open({ role: 'x', collections, durability: 'fast' as never })).rejects.toThrow(/durability must be "normal" or "full"/)
    await expect(open({ role: 'bad role!', collections })).rejects.toThrow(/role must be/)
    await expect(open({ role: 'x', collections: { a: { writer: ['x'] } as never } })).rejects.toThrow(/Unknown option "writer" in collections\.a/)
    await expect(open({ role: 'x', collections: { a: { writers: [] } } })).rejects.toThrow(/writers must be a non-empty array/)
    await expect(open({ role: 'x', collections: { 'bad-name': { writers: '*' } } })).rejects.toThrow(/Collection name "bad-name"/)
    await expect(open({ role: 'x', collections: { a: { writers: '*', indexes: ['a;b'] } } })).rejects.toMatchObject({ code: 'INVALID_QUERY' })
    await expect(open({ role: 'x', collections: { a: { writers: '*', schema: {} as never } } })).rejects.toThrow(/Standard Schema/)
    await expect(open({ role: 'x', collections: { Ab: { writers: '*' }, ab: { writers: '*' } } })).rejects.toThrow(/differ by more than case/)
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

describe.each(BACKENDS)('process registry on $name', (backend) => {
  test('every open store is listed with its role and pid until it closes', async () => {
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
