import { describe, expect, test } from 'vitest'
import { ConflictError, TandemError } from '../../src/index.js'
import { TARGETS } from '../helpers/backends.js'

const collections = { tasks: { writers: ['app'] }, notes: { writers: '*' } } as const

describe.each(TARGETS)('records on $name', (backend) => {
  test('insert gives a time-sortable id, version 1, timestamps and the writing role', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const tasks = store.collection('tasks')
    const before = Date.now()
    const a = await tasks.insert({ title: 'a' })
    const b = await tasks.insert({ title: 'b' })
    expect(a.version).toBe(1)
    expect(a.role).toBe('app')
    expect(a.data).toEqual({ title: 'a' })
    expect(Date.parse(a.createdAt)).toBeGreaterThanOrEqual(before - 1)
    expect(a.updatedAt).toBe(a.createdAt)
    expect(a.id < b.id).toBe(true)
    expect(await tasks.get(a.id)).toEqual(a)
  })

  test('every write adds one to the version and keeps createdAt', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const tasks = store.collection('tasks')
    const r = await tasks.insert({ title: 'x', n: 0 })
    const u = await tasks.update(r.id, (d) => ({ ...d, n: (d.n as number) + 1 }))
    const p = await tasks.patch(r.id, { done: true })
    const x = await tasks.replace(r.id, { title: 'y' })
    expect([u.version, p.version, x.version]).toEqual([2, 3, 4])
    expect(x.createdAt).toBe(r.createdAt)
    expect(await tasks.get(r.id)).toMatchObject({ version: 4, data: { title: 'y' } })
  })

  test('a caller-given id is kept, and a taken id fails with DUPLICATE_ID leaving the record as it was', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const tasks = store.collection('tasks')
    await tasks.insert({ title: 'first' }, { id: 'task-1' })
    const error = await tasks.insert({ title: 'second' }, { id: 'task-1' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(TandemError)
    expect(error).toMatchObject({ code: 'DUPLICATE_ID', collection: 'tasks', id: 'task-1' })
    expect((await tasks.get('task-1'))?.data).toEqual({ title: 'first' })
  })

  test('ids must be non-empty strings without control characters', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const tasks = store.collection('tasks')
    await expect(tasks.insert({}, { id: '' })).rejects.toThrow(TypeError)
    await expect(tasks.insert({}, { id: 'a\nb' })).rejects.toThrow(/control characters/)
    await expect(tasks.get(42 as unknown as string)).rejects.toThrow(TypeError)
  })

  test('patch changes only the named fields and undefined removes one', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const tasks = store.collection('tasks')
    const r = await tasks.insert({ a: 1, b: 2, c: 3 })
    const p = await tasks.patch(r.id, { b: 20, c: undefined, d: 4 })
    expect(p.data).toEqual({ a: 1, b: 20, d: 4 })
    expect((await tasks.get(r.id))?.data).toEqual({ a: 1, b: 20, d: 4 })
  })

  test('ifVersion on replace, patch, update and delete raises ConflictError with the current version and changes nothing', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const tasks = store.collection('tasks')
    const r = await tasks.insert({ n: 1 })
    await tasks.patch(r.id, { n: 2 })
    for (const attempt of [
      () => tasks.replace(r.id, { n: 99 }, { ifVersion: 1 }),
      () => tasks.patch(r.id, { n: 99 }, { ifVersion: 1 }),
      () => tasks.update(r.id, () => ({ n: 99 }), { ifVersion: 1 }),
      () => tasks.delete(r.id, { ifVersion: 1 }),
    ]) {
      const error = await attempt().catch((e: unknown) => e)
      expect(error).toBeInstanceOf(ConflictError)
      expect(error).toMatchObject({ code: 'VERSION_CONFLICT', expected: 1, actual: 2 })
      expect((error as Error).message).toMatch(/version 2, not 1/)
    }
    expect(await tasks.get(r.id)).toMatchObject({ version: 2, data: { n: 2 } })
    expect((await tasks.replace(r.id, { n: 3 }, { ifVersion: 2 })).version).toBe(3)
  })

  test('a record deleted meanwhile is a conflict with actual null', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const tasks = store.collection('tasks')
    const r = await tasks.insert({ n: 1 })
    expect(await tasks.delete(r.id)).toBe(true)
    expect(await tasks.delete(r.id)).toBe(false)
    await expect(tasks.replace(r.id, { n: 2 }, { ifVersion: 1 })).rejects.toMatchObject({ code: 'VERSION_CONFLICT', actual: null })
    await expect(tasks.update(r.id, (d) => d)).rejects.toMatchObject({ code: 'NOT_FOUND' })
    expect(await tasks.get(r.id)).toBeUndefined()
  })

  test('upsert inserts when missing and replaces when present', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const tasks = store.collection('tasks')
    expect(await tasks.upsert('k', { v: 1 })).toMatchObject({ version: 1, data: { v: 1 } })
    expect(await tasks.upsert('k', { v: 2 })).toMatchObject({ version: 2, data: { v: 2 } })
    await expect(tasks.upsert('k', { v: 3 }, { ifVersion: 1 })).rejects.toMatchObject({ code: 'VERSION_CONFLICT', actual: 2 })
  })

  test('update sees the latest data and a throwing fn writes nothing', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const tasks = store.collection('tasks')
    const r = await tasks.insert({ n: 0 })
    await Promise.all(Array.from({ length: 50 }, () => tasks.update(r.id, (d) => ({ n: (d.n as number) + 1 }))))
    await expect(
      tasks.update(r.id, () => {
        throw new Error('no')
      }),
    ).rejects.toThrow('no')
    expect(await tasks.get(r.id)).toMatchObject({ version: 51, data: { n: 50 } })
  })

  test('a write from another handle on the same store is seen at once', async () => {
    const open = await backend.tempStore()
    const first = await open({ role: 'app', collections })
    const second = await open({ role: 'app', collections })
    const r = await first.collection('tasks').insert({ n: 1 })
    expect((await second.collection('tasks').get(r.id))?.data).toEqual({ n: 1 })
    await second.collection('tasks').patch(r.id, { n: 2 })
    expect((await first.collection('tasks').get(r.id))?.version).toBe(2)
  })

  test('writes after close fail with STORE_CLOSED', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const pending = store.collection('tasks').insert({ n: 1 })
    await store.close()
    await expect(pending).resolves.toMatchObject({ version: 1 })
    await expect(store.collection('tasks').insert({ n: 2 })).rejects.toMatchObject({ code: 'STORE_CLOSED' })
    await expect(store.collection('tasks').get('x')).rejects.toMatchObject({ code: 'STORE_CLOSED' })
  })
})
