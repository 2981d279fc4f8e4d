import { join } from 'node:path'
import { expect, test } from 'vitest'
import { z } from 'zod'
import { defineStore, openStore, TandemError } from '../../src/index.js'
import { tempDir } from '../helpers/backends.js'
import { forkWorker } from '../helpers/processes.js'

// A live process declared `jobs` as written by the daemon only; another program's definition drifted.
const daemonCollections = { jobs: { writers: ['daemon'], indexes: ['status'] }, notes: { writers: '*' } } as const

test('a process whose definition disagrees with a running one is refused with DEFINITION_MISMATCH naming each difference and the other process; once that process stops, the new definition is adopted', async () => {
  const path = join(tempDir(), 'store.db')
  const daemon = forkWorker('store-holder.mjs', { config: { path, role: 'daemon', collections: daemonCollections } })
  await daemon.waitFor('ready')

  // Same definition: fine, and both processes show the same fingerprint.
  const same = await openStore({ path, role: 'cli', roles: { cli: {} }, collections: daemonCollections })
  const processes = await same.processes()
  expect(new Set(processes.map((p) => p.definition))).toEqual(new Set([same.fingerprint]))
  await same.close()

  // A subset that agrees on what it declares is fine too.
  const subset = await openStore({ path, role: 'cli', collections: { notes: { writers: '*' } } })
  await subset.close()

  const drifted = { jobs: { writers: ['daemon', 'cli'], indexes: ['status', 'owner'] }, notes: { writers: '*' } } as const
  const error = await openStore({ path, role: 'cli', collections: drifted }).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(TandemError)
  expect(error).toMatchObject({ code: 'DEFINITION_MISMATCH', collection: 'jobs' })
  const message = (error as Error).message
  expect(message).toContain(`pid ${daemon.pid}`)
  expect(message).toContain(
    'collection "jobs": writers ["cli","daemon"] here, ["daemon"] there; indexes ["status","owner"] here, ["status"] there',
  )
  expect((error as TandemError).hint).toMatch(/defineStore/)

  // Nothing was changed: the daemon's declaration stands, and the refused opener left no registration.
  const reader = await openStore({ path, role: 'cli', collections: {} })
  const description = await reader.describe()
  expect(description.collections.find((c) => c.name === 'jobs')).toMatchObject({ writers: ['daemon'], indexes: ['status'] })
  expect(description.processes.map((p) => p.role).sort()).toEqual(['cli', 'daemon'])
  await reader.close()

  // The daemon stops: the changed definition is an upgrade now, and it is recorded.
  daemon.send({ type: 'cmd', action: 'stop' })
  await daemon.waitFor('closed')
  const upgraded = await openStore({ path, role: 'cli', collections: drifted })
  expect((await upgraded.describe()).collections.find((c) => c.name === 'jobs')).toMatchObject({
    writers: ['cli', 'daemon'],
    indexes: ['status', 'owner'],
    declaredBy: 'cli',
  })
  await upgraded.close()
})

test('schemas that differ are a mismatch too, compared by their JSON Schema', async () => {
  const dir = tempDir()
  const v1 = defineStore({
    dataDir: dir,
    path: 's.db',
    collections: { tasks: { writers: ['app'], schema: z.object({ title: z.string() }) } },
  })
  const v2 = defineStore({
    dataDir: dir,
    path: 's.db',
    collections: { tasks: { writers: ['app'], schema: z.object({ title: z.string(), done: z.boolean() }) } },
  })
  const first = await openStore({ ...v1, role: 'app' })
  const again = await openStore({ ...v1, role: 'app' })
  await again.close()
  await expect(openStore({ ...v2, role: 'app' })).rejects.toMatchObject({
    code: 'DEFINITION_MISMATCH',
    message: expect.stringMatching(/collection "tasks": schema "zod:[0-9a-f]+" here, "zod:[0-9a-f]+" there/),
  })
  await first.close()
})

test('an older definition on a migrated store names the migrations it lacks (SCHEMA_TOO_NEW)', async () => {
  const dir = tempDir()
  const app = defineStore({
    dataDir: dir,
    collections: { tasks: { writers: ['app'] } },
    migrations: [
      { version: 1, name: 'add-owner', up: async (m) => void (await m.renameField('tasks', 'who', 'owner')) },
      { version: 2, name: 'backfill-done', up: async () => undefined },
    ],
  })
  await (await openStore({ ...app, role: 'app' })).close()
  const stale = { ...app, migrations: app.migrations!.slice(0, 1) }
  await expect(openStore({ ...stale, roles: { cli: {} }, role: 'cli' })).rejects.toMatchObject({
    code: 'SCHEMA_TOO_NEW',
    message: expect.stringMatching(/knows 1; it lacks migration 2 "backfill-done" \(applied by role app at \d{4}-/),
    hint: expect.stringMatching(/same store definition/),
  })
})

test('drift is checked against every running process that declared a collection, not only the last to record it', async () => {
  const path = join(tempDir(), 'store.db')
  const first = forkWorker('store-holder.mjs', { config: { path, role: 'daemon', collections: daemonCollections } })
  await first.waitFor('ready')
  const second = forkWorker('store-holder.mjs', { config: { path, role: 'daemon', collections: daemonCollections } })
  await second.waitFor('ready')
  first.send({ type: 'cmd', action: 'stop' })
  await first.waitFor('closed')
  const drifted = { jobs: { writers: ['daemon', 'cli'], indexes: ['status'] } } as const
  await expect(openStore({ path, role: 'cli', collections: drifted })).rejects.toMatchObject({
    code: 'DEFINITION_MISMATCH',
    message: expect.stringContaining(`pid ${second.pid}`),
  })
  second.send({ type: 'cmd', action: 'stop' })
  await second.waitFor('closed')
  await (await openStore({ path, role: 'cli', collections: drifted })).close()
})
