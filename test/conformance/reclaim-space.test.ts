import { describe, expect, test } from 'vitest'
import { BACKENDS } from '../helpers/backends.js'

const collections = { docs: { writers: '*' } } as const

describe.each(BACKENDS)('reclaiming space on $name', (backend) => {
  test('after records are deleted, reclaimSpace gives the space back while another writer keeps writing', async (ctx) => {
    const open = await backend.tempStore()
    const store = await open({ role: 'app', collections })
    // An optional ability: the files store rewrites whole files on each commit, so it has no free pages to give back (docs/files.md).
    if (store.backend.reclaimSpace === undefined) return ctx.skip()
    const other = await open({ role: 'other', collections })
    const pad = 'x'.repeat(4000)
    const docs = store.collection('docs')
    await docs.insertMany(Array.from({ length: 500 }, (_, i) => ({ i, pad })))
    for (const d of await docs.find()) await docs.delete(d.id)
    let writing = true
    let written = 0
    const writer = (async () => {
      while (writing) {
        await other.collection('docs').insert({ small: written })
        written++
      }
    })()
    const report = await store.reclaimSpace().finally(() => (writing = false))
    await writer
    if (report === undefined) throw new Error('both engines reclaim space')
    expect(report.steps).toBeGreaterThan(0)
    expect(report.longestBlockMs).toBeGreaterThanOrEqual(0)
    if (backend.name === 'sqlite') {
      // 2 MB of records deleted: the file gives nearly all of it back.
      expect(report.rewritten).toBe(false)
      expect(report.bytesAfter).toBeLessThan(report.bytesBefore - 1_500_000)
      expect((await store.describe()).sizes!.freeBytes).toBe(0)
    }
    expect(await other.collection('docs').count()).toBe(written)
  })
})
