import { describe, expect, test } from 'vitest'
import { BACKENDS } from '../helpers/backends.js'

const collections = { docs: { writers: '*' }, audit: { writers: '*', history: 'full' } } as const

describe.each(BACKENDS)('storage sizes on $name', (backend) => {
  test('describe() splits the size into records, indexes, change log and history, with the amplification', async (ctx) => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    // An optional ability: the files store keeps plain text files and has no page accounting (docs/files.md).
    if (store.backend.storageSizes === undefined) return ctx.skip()
    const pad = 'x'.repeat(1000)
    for (let i = 0; i < 50; i++) await store.collection('docs').insert({ i, pad }, { id: `d${i}` })
    for (let k = 0; k < 3; k++) for (let i = 0; i < 50; i++) await store.collection('docs').patch(`d${i}`, { k })
    const plain = (await store.describe()).sizes!
    // The log of 200 writes of 1 KB records keeps no copies by default.
    expect(plain.historyBytes).toBe(0)
    expect(plain.liveDataBytes).toBeGreaterThanOrEqual(50 * 1000)
    expect(plain.recordBytes).toBeGreaterThanOrEqual(plain.liveDataBytes / 2)
    expect(plain.indexBytes).toBeGreaterThan(0)
    expect(plain.changeLogBytes).toBeGreaterThan(0)
    expect(plain.changeLogBytes).toBeLessThan(200 * 1000) // what copies of the 200 writes would take
    const parts = plain.recordBytes + plain.indexBytes + plain.changeLogBytes + plain.otherBytes + (plain.freeBytes ?? 0)
    expect(parts).toBeLessThanOrEqual(plain.totalBytes)
    expect(plain.amplification).toBe(Math.round((plain.totalBytes / plain.liveDataBytes) * 100) / 100)

    const a = await store.collection('audit').insert({ pad })
    await store.collection('audit').patch(a.id, { more: pad })
    const withHistory = (await store.describe()).sizes!
    expect(withHistory.historyBytes).toBeGreaterThanOrEqual(3000)
  })
})
