import { describe, expect, test } from 'vitest'
import { TandemError } from '../../src/index.js'
import type { JsonObject } from '../../src/index.js'
import { TARGETS } from '../helpers/backends.js'

// Issue #16 items 3 and 8. A JavaScript string may hold a lone UTF-16 surrogate ('x\uD800'), which
// no engine stores as itself: SQLite keeps the id's bytes in a form every read turns into
// U+FFFD, and 'x\uD800' and 'x\uDBFF' then read back as the same id; PostgreSQL refuses them with
// an engine error. Tandem refuses them itself, before anything is written, the same way on every
// backend: INVALID_ID for an id, INVALID_DATA for a string (or key) in the data.

const collections = { tasks: { writers: '*' } } as const

describe.each(TARGETS)('ill-formed strings on $name', (backend) => {
  test('an id holding a lone surrogate is refused with INVALID_ID, by every method that takes one, and nothing is written', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const tasks = store.collection('tasks')
    await tasks.insert({ n: 0 }, { id: 'x' })
    for (const id of ['x\uD800', 'x\uDBFF', '\uDC00', 'a\uDFFFb', 'x\uDC00\uD800']) {
      const attempts: [string, () => Promise<unknown>][] = [
        ['insert', () => tasks.insert({ n: 1 }, { id })],
        ['upsert', () => tasks.upsert(id, { n: 1 })],
        ['get', () => tasks.get(id)],
        ['replace', () => tasks.replace(id, { n: 1 })],
        ['patch', () => tasks.patch(id, { n: 1 })],
        ['update', () => tasks.update(id, () => ({ n: 1 }))],
        ['delete', () => tasks.delete(id)],
      ]
      for (const [method, attempt] of attempts) {
        const error = await attempt().catch((e: unknown) => e)
        expect(error, `${method}(${JSON.stringify(id)})`).toBeInstanceOf(TypeError)
        expect(error, `${method}(${JSON.stringify(id)})`).toMatchObject({ code: 'INVALID_ID' })
        expect((error as Error).message).toMatch(/lone UTF-16 surrogate/)
      }
    }
    // A well-formed pair (an astral character) is an ordinary id.
    await tasks.insert({ n: 2 }, { id: 'x\uD83D\uDE00' })
    expect((await tasks.find()).map((r) => r.id).sort()).toEqual(['x', 'x\uD83D\uDE00'])
  })

  test('the other invalid ids carry the code INVALID_ID too, and a message saying what is allowed', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const tasks = store.collection('tasks')
    for (const id of ['', 'a\nb', 'a\u0000b', 'x'.repeat(257), 42, null, { id: 'x' }]) {
      const error = await tasks.insert({}, { id: id as string }).catch((e: unknown) => e)
      expect(error, JSON.stringify(id)).toBeInstanceOf(TypeError)
      expect(error, JSON.stringify(id)).toMatchObject({ code: 'INVALID_ID' })
      expect((error as Error).message).toMatch(/A record id must be a string of 1 to 256 characters/)
    }
    // Building the message never throws, whatever the value.
    for (const id of [10n, Symbol('s')])
      expect(await tasks.get(id as unknown as string).catch((e: unknown) => e)).toMatchObject({ code: 'INVALID_ID' })
    expect(await tasks.count()).toBe(0)
  })

  test('a lone surrogate in a data string or key is refused with INVALID_DATA naming where it is', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const tasks = store.collection('tasks')
    const r = await tasks.insert({ title: 'ok' })
    const cases: [unknown, RegExp][] = [
      [{ title: 'x\uD800' }, /data\.title/],
      [{ nested: { list: ['fine', 'y\uDBFF'] } }, /data\.nested\.list\[1\]/],
      [{ ['k\uDC00']: 1 }, /data\.k/],
    ]
    for (const [data, where] of cases) {
      for (const attempt of [
        () => tasks.insert(data as JsonObject),
        () => tasks.replace(r.id, data as JsonObject),
        () => tasks.patch(r.id, data as JsonObject),
        () => tasks.upsert('u1', data as JsonObject),
      ]) {
        const error = await attempt().catch((e: unknown) => e)
        expect(error).toBeInstanceOf(TandemError)
        expect(error).toMatchObject({ code: 'INVALID_DATA', collection: 'tasks' })
        expect((error as Error).message).toMatch(where)
        expect((error as Error).message).toMatch(/lone UTF-16 surrogate/)
      }
    }
    expect((await tasks.find()).map((x) => x.data)).toEqual([{ title: 'ok' }])
    // Astral characters (surrogate pairs) are ordinary text.
    const astral = await tasks.insert({ title: '\uD83D\uDE00 \uD834\uDD1E' })
    expect((await tasks.get(astral.id))?.data.title).toBe('\uD83D\uDE00 \uD834\uDD1E')
  })
})
