/**
 * Type tests: what the compiler infers from one store definition. These lines are checked by
 * `npm run typecheck` (tsconfig.json includes test/), which `npm test` runs before vitest: an
 * `expectTypeOf` that no longer holds, or a `@ts-expect-error` line that starts compiling, fails
 * the suite. The functions below are type-checked, never called (their run-time counterparts are
 * in test/conformance/typed-checks.test.ts); the test at the bottom runs a typed query for real.
 */
import * as v from 'valibot'
import { expect, expectTypeOf, test } from 'vitest'
import { z } from 'zod'
import {
  defineStore,
  openStore,
  type Change,
  type ChangeStream,
  type Collection,
  type Consumer,
  type JsonObject,
  type JsonValue,
  type Store,
  type StoredRecord,
} from '../../src/index.js'

const Project = z.object({
  name: z.string(),
  status: z.enum(['open', 'done']),
  stars: z.number(),
  archived: z.boolean(),
  owner: z.object({ name: z.string(), email: z.string().optional() }),
  tags: z.array(z.string()),
  dueAt: z.string().optional(),
})
const Note = v.object({ text: v.string(), pinned: v.optional(v.boolean(), false) })

const definition = defineStore({
  path: ':memory:',
  collections: {
    projects: { writers: ['server'], indexes: ['status'], schema: Project },
    notes: { writers: ['server', 'daemon'], schema: Note },
    logs: { writers: '*' },
  },
  roles: { inspector: {} },
})

type Definition = typeof definition
type Collections = Definition['collections']
type Project = z.output<typeof Project>

// 1. Collection names and record types.
async function collections(store: Store<Collections>) {
  const projects = store.collection('projects')
  expectTypeOf(projects).toEqualTypeOf<Collection<Project, z.input<typeof Project>, 'projects'>>()
  expectTypeOf(projects.name).toEqualTypeOf<'projects'>()
  const record = await projects.get('p1')
  expectTypeOf(record).toEqualTypeOf<StoredRecord<Project> | undefined>()
  expectTypeOf(store.collection('notes').insert).parameter(0).toEqualTypeOf<{ text: string; pinned?: boolean | undefined }>()
  expectTypeOf((await store.collection('notes').insert({ text: 'x' })).data).toEqualTypeOf<{ text: string; pinned: boolean }>()
  // @ts-expect-error a collection the definition does not declare
  store.collection('projcts')
  // @ts-expect-error a field the schema lacks, in a write
  await projects.patch('p1', { statu: 'open' })
  // @ts-expect-error a value of the wrong type, in a write
  await projects.patch('p1', { stars: 'many' })
  await store.transaction(async (tx) => {
    expectTypeOf(tx.collection('notes').name).toEqualTypeOf<'notes'>()
    // @ts-expect-error inside a transaction too
    tx.collection('note')
  })
}

// 2. `where`: field names, per-field value types, operators by type.
async function where(store: Store<Collections>) {
  const projects = store.collection('projects')
  await projects.find({ where: { status: 'open', stars: { gte: 3, lt: 10 }, 'owner.name': 'ada', $createdAt: { gt: new Date() } } })
  await projects.find({ where: { status: { in: ['open', 'done'] }, dueAt: { exists: false }, archived: false, name: { gt: 'm' } } })
  await projects.find({ where: { dueAt: null, tags: { exists: true }, $id: { in: ['a', 'b'] }, $version: { gte: 2 }, $role: 'server' } })
  await projects.count({ status: 'done' })
  // @ts-expect-error a typo in a field name
  await projects.find({ where: { statu: 'open' } })
  // @ts-expect-error a typo in a nested field name
  await projects.find({ where: { 'owner.nam': 'ada' } })
  // @ts-expect-error a value outside the field's type (an enum)
  await projects.find({ where: { status: 'opne' } })
  // @ts-expect-error a string compared with a number field
  await projects.find({ where: { stars: '3' } })
  // @ts-expect-error a string compared with a number field, through an operator
  await projects.find({ where: { stars: { gt: '3' } } })
  // @ts-expect-error gt on a boolean: not an ordered type
  await projects.find({ where: { archived: { gt: false } } })
  // @ts-expect-error in takes an array of the field's values
  await projects.find({ where: { status: { in: ['open', 'closed'] } } })
  // @ts-expect-error in takes an array, not one value
  await projects.find({ where: { status: { in: 'open' } } })
  // @ts-expect-error an array field cannot be compared, only tested with exists
  await projects.find({ where: { tags: 'x' } })
  // @ts-expect-error an object field cannot be compared either
  await projects.find({ where: { owner: { eq: 'ada' } } })
  // @ts-expect-error an unknown operator
  await projects.find({ where: { stars: { gt: 1, between: [1, 2] } } })
  // @ts-expect-error count's where is typed the same
  await projects.count({ statu: 'open' })
  // @ts-expect-error an unknown metadata field
  await projects.find({ where: { $created: 1 } })
}

// A union of record types (a discriminated union schema): the fields of every member, each typed.
async function unionRecords() {
  const Shape = z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('circle'), radius: z.number() }),
    z.object({ kind: z.literal('square'), side: z.number(), label: z.string() }),
  ])
  const store = await openStore({ path: ':memory:', role: 'app', collections: { shapes: { writers: ['app'], schema: Shape } } })
  const shapes = store.collection('shapes')
  await shapes.find({ where: { kind: 'circle', radius: { gt: 1 }, label: { exists: true } }, orderBy: '-side' })
  // @ts-expect-error no member has this field
  await shapes.find({ where: { radius: { gt: 1 }, diameter: 2 } })
  // @ts-expect-error a value outside the discriminant's members
  await shapes.find({ where: { kind: 'triangle' } })
  // @ts-expect-error side is a number in the member that has it
  await shapes.find({ where: { side: 'big' } })
}

// 3. `orderBy`: data fields (dot paths), metadata, a leading '-'.
async function orderBy(store: Store<Collections>) {
  const projects = store.collection('projects')
  await projects.find({ orderBy: 'stars' })
  await projects.find({ orderBy: '-stars' })
  await projects.find({ orderBy: '-$createdAt' })
  await projects.findPage({ orderBy: { field: 'owner.name', direction: 'desc' } })
  // @ts-expect-error a typo in orderBy
  await projects.find({ orderBy: 'strs' })
  // @ts-expect-error a typo after the '-'
  await projects.find({ orderBy: '-strs' })
  // @ts-expect-error a typo in the object form
  await projects.findPage({ orderBy: { field: 'nme' } })
}

// 4. Roles: the union of every collection's writers and the declared roles.
async function roles() {
  await openStore({ ...definition, role: 'server' })
  await openStore({ ...definition, role: 'daemon' })
  await openStore({ ...definition, role: 'inspector' })
  // @ts-expect-error a typo in the role
  await openStore({ ...definition, role: 'deamon' })
  await openStore({ path: ':memory:', role: 'api', collections: { jobs: { writers: ['api'] } }, roles: { cli: {} } })
  await openStore({ path: ':memory:', role: 'cli', collections: { jobs: { writers: ['api'] } }, roles: { cli: {} } })
  // @ts-expect-error neither a writer nor a declared role
  await openStore({ path: ':memory:', role: 'ap', collections: { jobs: { writers: ['api'] } }, roles: { cli: {} } })
  // A definition that names no role (every collection written by '*') takes any role.
  await openStore({ path: ':memory:', role: 'anyone', collections: { jobs: { writers: '*' } } })
}

// 5. The change feed: a union discriminated by collection; typed collection filters.
async function changeFeed(store: Store<Collections>) {
  for await (const change of store.changes()) {
    expectTypeOf(change.collection).toEqualTypeOf<'projects' | 'notes' | 'logs'>()
    if (change.collection === 'projects') expectTypeOf(change.data).toEqualTypeOf<Project | undefined>()
    else if (change.collection === 'notes') expectTypeOf(change.data).toEqualTypeOf<{ text: string; pinned: boolean } | undefined>()
    else expectTypeOf(change.data).toEqualTypeOf<JsonObject | undefined>()
  }
  const projectsOnly = store.changes({ collections: ['projects'] })
  expectTypeOf(projectsOnly).toEqualTypeOf<ChangeStream<Change<Project, 'projects'>>>()
  // @ts-expect-error a typo in the collection filter
  store.changes({ collections: ['projets'] })
  const mailer = store.consumer('mailer', { collections: ['notes', 'logs'] })
  expectTypeOf(mailer).toEqualTypeOf<Consumer<Change<{ text: string; pinned: boolean }, 'notes'> | Change<JsonObject, 'logs'>>>()
  for await (const change of await mailer.changes()) {
    if (change.collection === 'notes') expectTypeOf(change.data!.text).toEqualTypeOf<string>()
  }
  // @ts-expect-error a typo in a consumer's collection filter
  store.consumer('mailer', { collections: ['note'] })
  store.collection('projects').watch((change) => {
    expectTypeOf(change).toEqualTypeOf<Change<Project, 'projects'>>()
  })
}

// 6. A collection without a schema is JSON, not any.
async function untyped(store: Store<Collections>) {
  const logs = store.collection('logs')
  const record = await logs.insert({ level: 'info', at: 1, tags: ['a'], nested: { ok: true } })
  expectTypeOf(record.data).toEqualTypeOf<JsonObject>()
  expectTypeOf(record.data['level']).toEqualTypeOf<JsonValue | undefined>()
  // @ts-expect-error JSON values are not numbers until narrowed (with `any`, this compiled)
  void (record.data['at'] + 1)
  // @ts-expect-error a Date is not JSON: store date.toISOString()
  await logs.insert({ at: new Date() })
  // @ts-expect-error a function is not JSON
  await logs.insert({ run: () => 1 })
  // Any field may be queried, with any scalar.
  await logs.find({ where: { level: 'info', at: { gt: 0 }, 'nested.ok': true }, orderBy: '-at' })
  // An untyped store (the CLI's, a tool's) takes any name.
  const anyStore = null as unknown as Store
  expectTypeOf(anyStore.collection('whatever').name).toEqualTypeOf<'whatever'>()
  expectTypeOf((await anyStore.collection('whatever').find())[0]!.data).toEqualTypeOf<JsonObject>()
}

test('the typed queries above run on a real store', async () => {
  const store = await openStore({ ...definition, role: 'server' })
  try {
    const projects = store.collection('projects')
    await projects.insert({ name: 'tandem', status: 'open', stars: 5, archived: false, owner: { name: 'ada' }, tags: ['db'] })
    const found = await projects.find({ where: { status: { in: ['open'] }, stars: { gte: 3 }, 'owner.name': 'ada' }, orderBy: '-stars' })
    expect(found.map((r) => r.data.name)).toEqual(['tandem'])
  } finally {
    await store.close()
  }
  // The functions above are for the compiler only.
  expectTypeOf([collections, where, unionRecords, orderBy, roles, changeFeed, untyped]).items.toBeFunction()
})
