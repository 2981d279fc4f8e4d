import * as v from 'valibot'
import { describe, expect, test } from 'vitest'
import { z } from 'zod'
import { ValidationError } from '../../src/index.js'
import { TARGETS } from '../helpers/backends.js'

// Skipped on remote: a valibot schema cannot be rebuilt in the test's server process (lacks.opaqueSchemas, test/helpers/backends.ts).
const Session = z.object({ projectId: z.string(), startedAt: z.number().int(), endedAt: z.number().int().optional() })
const Project = v.object({ name: v.pipe(v.string(), v.minLength(1)), stars: v.optional(v.number(), 0) })

const collections = {
  sessions: { writers: '*', schema: Session },
  projects: { writers: '*', schema: Project },
  loose: { writers: '*' },
} as const

describe.each(TARGETS)('validation on $name', (backend) => {
  test('a zod schema refuses bad data with its issues and writes nothing', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const sessions = store.collection('sessions')
    const error = await sessions.insert({ projectId: 7, startedAt: 'now' } as never).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ValidationError)
    const issues = (error as ValidationError).issues
    expect(issues.map((i) => i.path.join('.')).sort()).toEqual(['projectId', 'startedAt'])
    expect((error as Error).message).toMatch(/^Data for "sessions" does not match its schema: /)
    expect(await sessions.count()).toBe(0)
  })

  test('updates and patches are validated as whole records; a bad one leaves the record as it was', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const sessions = store.collection('sessions')
    const s = await sessions.insert({ projectId: 'p', startedAt: 1 })
    await expect(sessions.patch(s.id, { endedAt: 1.5 })).rejects.toBeInstanceOf(ValidationError)
    await expect(sessions.update(s.id, (d) => ({ ...d, startedAt: 'x' as never }))).rejects.toBeInstanceOf(ValidationError)
    await expect(sessions.replace(s.id, { projectId: 'p' } as never)).rejects.toBeInstanceOf(ValidationError)
    expect(await sessions.get(s.id)).toEqual(s)
    expect((await sessions.patch(s.id, { endedAt: 2 })).data).toEqual({ projectId: 'p', startedAt: 1, endedAt: 2 })
  })

  test.skipIf(backend.lacks.opaqueSchemas !== undefined)(
    'a valibot schema works the same, and its output (defaults) is what is stored',
    async () => {
      const store = await (await backend.tempStore())({ role: 'app', collections })
      const projects = store.collection('projects')
      const p = await projects.insert({ name: 'tandem' })
      expect(p.data).toEqual({ name: 'tandem', stars: 0 })
      expect((await projects.get(p.id))?.data).toEqual({ name: 'tandem', stars: 0 })
      await expect(projects.insert({ name: '' })).rejects.toMatchObject({ code: 'SCHEMA_INVALID' })
    },
  )

  test('__proto__ keys are refused anywhere in the data, and nothing is polluted', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const loose = store.collection('loose')
    for (const json of ['{"__proto__": {"polluted": 1}}', '{"a": {"b": [{"__proto__": {"polluted": 1}}]}}']) {
      const error = await loose.insert(JSON.parse(json)).catch((e: unknown) => e)
      expect(error).toMatchObject({ code: 'INVALID_DATA' })
      expect((error as Error).message).toMatch(/__proto__/)
    }
    const r = await loose.insert({ a: 1 })
    await expect(loose.patch(r.id, JSON.parse('{"__proto__": {"polluted": 1}}'))).rejects.toMatchObject({ code: 'INVALID_DATA' })
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(await loose.count()).toBe(1)
  })

  test('constructor and prototype keys are plain data and read back as such', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const loose = store.collection('loose')
    const r = await loose.insert({ constructor: { prototype: { polluted: 1 } }, prototype: 'x' })
    const back = await loose.get(r.id)
    expect(back?.data).toEqual({ constructor: { prototype: { polluted: 1 } }, prototype: 'x' })
    const merged = await loose.patch(r.id, { constructor: 'plain' })
    expect(merged.data.constructor).toBe('plain')
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted')).toBe(false)
  })

  test('data that would not read back the same is refused with a hint', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const loose = store.collection('loose')
    await expect(loose.insert({ at: new Date() as never })).rejects.toThrow(/toISOString/)
    await expect(loose.insert({ n: Number.POSITIVE_INFINITY })).rejects.toThrow(/finite/)
    await expect(loose.insert({ m: new Map() as never })).rejects.toThrow(/Map, not a plain object/)
    await expect(loose.insert({ f: (() => 1) as never })).rejects.toThrow(/function/)
    await expect(loose.insert([1, 2] as never)).rejects.toThrow(/array, not an object/)
    await expect(loose.insert({ big: 1n } as never)).rejects.toThrow(/bigint/)
    expect(await loose.count()).toBe(0)
  })
})
