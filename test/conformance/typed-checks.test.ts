// The run-time side of the typed API (issue #19), for JavaScript callers and data the compiler
// cannot see: unknown query fields, unknown roles, keys a schema would drop, migrations adding
// fields a schema lacks, and the change feed delivering only declared collections.
import * as v from 'valibot'
import { describe, expect, test } from 'vitest'
import { z } from 'zod'
import { TandemError, type Store } from '../../src/index.js'
import { BACKENDS } from '../helpers/backends.js'

const Task = z.object({ title: z.string(), status: z.enum(['open', 'done']), owner: z.object({ name: z.string() }).optional() })
const Note = v.object({ text: v.string(), pinned: v.optional(v.boolean(), false) })

const collections = {
  tasks: { writers: ['app'], indexes: ['status', 'meta.rank'], schema: Task },
  notes: { writers: ['app'], schema: Note },
  loose: { writers: ['app'], schema: z.looseObject({ title: z.string() }) },
  piped: { writers: ['app'], schema: z.object({ title: z.string() }).transform((d) => ({ ...d, title: d.title.trim() })) },
  stripping: { writers: ['app'], schema: Task, unknownKeys: 'strip' },
  untyped: { writers: ['app'] },
} as const

/** A loosely typed handle, as a JavaScript caller has. */
function untypedHandle(store: Store<typeof collections>, name: keyof typeof collections) {
  return store.collection(name) as unknown as {
    find(options: object): Promise<unknown[]>
    findPage(options: object): Promise<unknown>
    count(where: object): Promise<number>
    insert(data: object): Promise<{ id: string }>
    patch(id: string, fields: object): Promise<{ data: object }>
  }
}

describe.each(BACKENDS)('typed checks at run time on $name', (backend) => {
  test('a query on a field neither in the schema nor indexed is INVALID_QUERY naming the nearest known field, never an empty result', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    await store.collection('tasks').insert({ title: 'a', status: 'open' })
    const tasks = untypedHandle(store, 'tasks')
    const error = await tasks.find({ where: { statu: 'open' } }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(TandemError)
    expect(error).toMatchObject({ code: 'INVALID_QUERY', collection: 'tasks' })
    expect((error as Error).message).toMatch(
      /^Field "statu" is neither in the schema of "tasks" nor indexed, so no record has it\. Did you mean "status"\?/,
    )
    expect((error as Error).message).toContain('Known fields: title, status, owner, meta.rank, $id')
    await expect(tasks.count({ titel: 'a' })).rejects.toMatchObject({
      code: 'INVALID_QUERY',
      message: expect.stringContaining('Did you mean "title"?'),
    })
    await expect(tasks.findPage({ orderBy: '-stauts' })).rejects.toMatchObject({ code: 'INVALID_QUERY' })
    await expect(tasks.find({ where: { 'ownr.name': 'ada' } })).rejects.toMatchObject({ code: 'INVALID_QUERY' })
    // Known: schema fields (nested paths under them too), indexed fields, metadata.
    expect(await tasks.find({ where: { status: 'open', 'owner.name': { exists: false }, 'meta.rank': null, $version: 1 } })).toHaveLength(1)
    // valibot objects expose their fields too.
    await expect(untypedHandle(store, 'notes').find({ where: { txt: 'x' } })).rejects.toMatchObject({
      code: 'INVALID_QUERY',
      message: expect.stringContaining('Did you mean "text"?'),
    })
  })

  test('where the fields are not known (no schema, a loose object, a validator that shows no fields) any field may be queried', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    for (const name of ['untyped', 'loose', 'piped'] as const) {
      expect(await untypedHandle(store, name).find({ where: { anything: 1 }, orderBy: 'other' })).toEqual([])
    }
  })

  test('a write with keys the schema would drop is refused with INVALID_DATA naming them, and stores nothing', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const tasks = untypedHandle(store, 'tasks')
    const insert = await tasks
      .insert({ title: 'a', status: 'open', statu: 'x', owner: { name: 'ada', mail: 'm' } })
      .catch((e: unknown) => e)
    expect(insert).toMatchObject({ code: 'INVALID_DATA', collection: 'tasks' })
    expect((insert as Error).message).toMatch(
      /^Data for tasks\/\w+ has fields the schema does not declare: "statu", "owner.mail"\. The schema would drop them, so nothing was written\.$/,
    )
    expect(await store.collection('tasks').count()).toBe(0)

    const { id } = await store.collection('tasks').insert({ title: 'a', status: 'open' })
    const before = await store.collection('tasks').get(id)
    await expect(tasks.patch(id, { stauts: 'done' })).rejects.toMatchObject({
      code: 'INVALID_DATA',
      id,
      message: expect.stringContaining(`Data for tasks/${id} has a field the schema does not declare: "stauts"`),
    })
    await expect(store.collection('tasks').update(id, (d) => ({ ...d, extra: 1 }) as never)).rejects.toMatchObject({ code: 'INVALID_DATA' })
    await expect(store.collection('tasks').replace(id, { title: 'b', status: 'done', x: 1 } as never)).rejects.toMatchObject({
      code: 'INVALID_DATA',
    })
    await expect(store.collection('tasks').upsert('t2', { title: 'b', status: 'done', x: 1 } as never)).rejects.toMatchObject({
      code: 'INVALID_DATA',
    })
    expect(await store.collection('tasks').get(id)).toEqual(before)
    expect(await store.collection('tasks').count()).toBe(1)
    // valibot strips the same way, and is refused the same way; its defaults are not "unknown keys".
    await expect(untypedHandle(store, 'notes').insert({ text: 'x', pin: true })).rejects.toMatchObject({ code: 'INVALID_DATA' })
    expect((await store.collection('notes').insert({ text: 'x' })).data).toEqual({ text: 'x', pinned: false })
  })

  test("unknownKeys: 'strip' opts a collection in to dropping them, as the validator does", async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const stripping = untypedHandle(store, 'stripping')
    const { id } = await stripping.insert({ title: 'a', status: 'open', statu: 'x' })
    expect((await store.collection('stripping').get(id))!.data).toEqual({ title: 'a', status: 'open' })
    expect((await stripping.patch(id, { extra: 1, status: 'done' })).data).toEqual({ title: 'a', status: 'done' })
  })

  test('openStore refuses a role the definition does not name with UNKNOWN_ROLE listing the known ones; declared roles and role-free definitions open', async () => {
    const open = await backend.tempStore()
    const definition = { collections: { jobs: { writers: ['daemon'] }, events: { writers: ['server', 'daemon'] } }, roles: { cli: {} } }
    const error = await open({ ...definition, role: 'deamon' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(TandemError)
    expect(error).toMatchObject({ code: 'UNKNOWN_ROLE' })
    expect((error as Error).message).toBe(
      'Role "deamon" is not named by this store\'s definition. Did you mean "daemon"? Known roles: daemon, server, cli. Nothing was opened.',
    )
    await (await open({ ...definition, role: 'cli' })).close()
    await (await open({ ...definition, role: 'server' })).close()
    await (await open({ collections: { jobs: { writers: '*' } }, role: 'anyone' })).close()
  })

  test('changes() and consumers without a collection filter deliver the declared collections only', async () => {
    const open = await backend.tempStore()
    const writer = await open({ role: 'app', collections: { a: { writers: ['app'] }, b: { writers: ['app'] } } })
    const reader = await open({ role: 'app', collections: { a: { writers: ['app'] } } })
    const feed = reader.changes({ since: 'beginning' })
    await writer.collection('b').insert({ n: 1 })
    await writer.collection('a').insert({ n: 2 })
    const first = await feed.next()
    expect(first.value).toMatchObject({ collection: 'a', data: { n: 2 } })
    feed.close()
    const consumer = reader.consumer('c', { start: 'beginning' })
    const stream = await consumer.changes()
    expect((await stream.next()).value).toMatchObject({ collection: 'a' })
    await consumer.close()
  })
})

describe.each(BACKENDS)('migrations and schemas on $name', (backend) => {
  test('a migration that adds a field the schema lacks is reported when the store opens', async () => {
    const open = await backend.tempStore()
    const seed = await open({ role: 'app', collections: { tasks: { writers: ['app'] } } })
    await seed.collection('tasks').insert({ title: 'a', status: 'open' })
    await seed.close()
    const warnings: string[] = []
    const onWarning = (warning: Error & { code?: string }) => {
      if (warning.code === 'TANDEM_FIELD_NOT_IN_SCHEMA') warnings.push(warning.message)
    }
    process.on('warning', onWarning)
    try {
      const store = await open({
        role: 'app',
        collections: { tasks: { writers: ['app'], schema: Task } },
        migrations: [
          { version: 1, name: 'add-priority', up: async (m) => void (await m.backfill('tasks', 'priority', () => 1)) },
          { version: 2, name: 'add-owner', up: async (m) => void (await m.backfill('tasks', 'owner', () => ({ name: 'ada' }))) },
        ],
      })
      expect(store.migrations.warnings).toEqual([
        {
          version: 1,
          name: 'add-priority',
          collection: 'tasks',
          field: 'priority',
          message:
            'Migration 1 "add-priority" added field "priority" to "tasks", whose schema does not declare it: the schema would drop it, so the next write of each such record fails with INVALID_DATA. Add "priority" to the schema of "tasks".',
        },
      ])
      // And the next write of such a record is refused, not silently stripped.
      const [task] = await store.collection('tasks').find()
      await expect(store.collection('tasks').patch(task!.id, { status: 'done' })).rejects.toMatchObject({
        code: 'INVALID_DATA',
        message: expect.stringContaining('"priority"'),
      })
      await new Promise((resolve) => setImmediate(resolve))
      expect(warnings).toEqual([store.migrations.warnings[0]!.message])
      await store.close()
    } finally {
      process.off('warning', onWarning)
    }
  })
})
