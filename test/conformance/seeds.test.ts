import { describe, expect, test } from 'vitest'
import { z } from 'zod'
import { TARGETS } from '../helpers/backends.js'

const Setting = z.object({ value: z.string() })
const collections = {
  settings: {
    writers: ['server'],
    schema: Setting,
    seed: [
      { id: 'theme', data: { value: 'dark' } },
      { id: 'lang', data: { value: 'en' } },
    ],
  },
} as const

describe.each(TARGETS)('seeds on $name', (backend) => {
  test('seed records are inserted once, never overwrite an edit, and a deleted one stays deleted', async () => {
    const open = await backend.tempStore()
    const first = await open({ role: 'server', collections })
    expect((await first.collection('settings').find()).map((r) => [r.id, r.data.value])).toEqual([
      ['lang', 'en'],
      ['theme', 'dark'],
    ])
    await first.collection('settings').patch('theme', { value: 'light' })
    await first.collection('settings').delete('lang')
    // Any role opening the store applies seeds, even one that may not write the collection.
    const again = await open({ role: 'daemon', roles: { daemon: {} }, collections })
    expect((await again.collection('settings').find()).map((r) => [r.id, r.data.value, r.version])).toEqual([['theme', 'light', 2]])
  })

  test('an invalid seed makes the store refuse to open, writing nothing', async () => {
    const open = await backend.tempStore()
    const bad = { settings: { ...collections.settings, seed: [{ id: 'x', data: { value: 42 } }] } }
    await expect(open({ role: 'server', collections: bad })).rejects.toMatchObject({ code: 'SCHEMA_INVALID' })
    const ok = await open({ role: 'server', collections: { settings: { writers: ['server'] } } })
    expect(await ok.collection('settings').count()).toBe(0)
  })
})
