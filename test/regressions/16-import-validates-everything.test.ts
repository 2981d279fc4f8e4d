import { execFileSync } from 'node:child_process'
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { openStore, type Migration } from '../../src/index.js'
import { exportStore, importStore } from '../../src/lifecycle.js'
import { BACKENDS, tempDir } from '../helpers/backends.js'
import { exportFile, recordLine, storeState } from '../helpers/transfer.js'

// Issue 16, item 4: import must validate everything it stores. `createdAt: 9e15` was accepted and
// afterwards find and export threw RangeError; non-ISO dates and a version at
// Number.MAX_SAFE_INTEGER were accepted. Exports now carry the schema version and the definition
// fingerprint, and an export of another schema version is refused with a clear error. Records
// over 16 MiB exported but could not be imported back. A directory, a FIFO or a missing file as
// the import source failed with a raw error (the CLI's INTERNAL) — or, for a FIFO, hung.

const collections = { tasks: { writers: ['app'] } } as const

describe.each(BACKENDS)('import refuses what it cannot store faithfully, on $name', (backend) => {
  const bad: [name: string, meta: Parameters<typeof recordLine>[3], message: RegExp][] = [
    [
      'createdAt 9e15 (beyond what a Date can hold)',
      { createdAt: 9e15 as unknown as string },
      /"createdAt" must be an ISO 8601 date and time/,
    ],
    ['updatedAt -9e15', { updatedAt: -9e15 as unknown as string }, /"updatedAt" must be an ISO 8601 date and time/],
    ['a date in words', { createdAt: 'May 1, 2024 10:00' }, /"createdAt" must be an ISO 8601 date and time/],
    ['a date without a time', { createdAt: '2024-05-01' }, /"createdAt" must be an ISO 8601 date and time/],
    ['a time without a zone', { createdAt: '2024-05-01T10:00:00' }, /"createdAt" must be an ISO 8601 date and time/],
    ['a day that does not exist', { createdAt: '2024-02-30T10:00:00.000Z' }, /"createdAt" must be an ISO 8601 date and time/],
    ['a year beyond 9999', { createdAt: '+275760-09-13T00:00:00.000Z' }, /"createdAt" must be an ISO 8601 date and time/],
    ['milliseconds as a number', { createdAt: 1714557600000 as unknown as string }, /"createdAt" must be an ISO 8601 date and time/],
    [
      'version Number.MAX_SAFE_INTEGER',
      { version: Number.MAX_SAFE_INTEGER },
      /"version" must be a positive integer, at most 4503599627370496/,
    ],
    ['version 2^52 + 1', { version: 2 ** 52 + 1 }, /"version" must be a positive integer, at most 4503599627370496/],
  ]

  test('each bad date or version is refused naming the line, the store stays as it was, and find and export keep working', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    await store.collection('tasks').insert({ title: 'kept' }, { id: 'kept' })
    const before = await storeState(store)
    const file = join(tempDir(), 'bad.ndjson')
    for (const [name, meta, message] of bad) {
      writeFileSync(file, exportFile([recordLine('tasks', 'ok1', { n: 1 }), recordLine('tasks', 'bad', { n: 2 }, meta)]))
      const error = await importStore(store, { from: file, onConflict: 'overwrite' }).catch((e: unknown) => e)
      expect(error, name).toMatchObject({ code: 'INVALID_DATA', line: 3, location: 'line 3 of bad.ndjson' })
      expect((error as Error).message, name).toMatch(message)
      expect(await storeState(store), name).toEqual(before)
    }
    expect((await store.collection('tasks').find()).map((r) => r.id)).toEqual(['kept'])
    await exportStore(store, { to: join(tempDir(), 'after.ndjson') })
  })

  test('the widest accepted dates and versions round-trip exactly', async () => {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    const file = join(tempDir(), 'edge.ndjson')
    writeFileSync(
      file,
      exportFile([
        recordLine(
          'tasks',
          'a',
          { n: 1 },
          { createdAt: '0001-01-01T00:00:00.000Z', updatedAt: '9999-12-31T23:59:59.999Z', version: 2 ** 52 },
        ),
        recordLine('tasks', 'b', { n: 2 }, { createdAt: '2024-05-01T12:00:00+02:00', updatedAt: '2024-05-01T10:00:00.5Z' }),
      ]),
    )
    await importStore(store, { from: file, onConflict: 'fail' })
    const [a, b] = await store.collection('tasks').find()
    expect(a).toMatchObject({ id: 'a', version: 2 ** 52, createdAt: '0001-01-01T00:00:00.000Z', updatedAt: '9999-12-31T23:59:59.999Z' })
    // An offset is converted to UTC, as the store keeps every time.
    expect(b).toMatchObject({ id: 'b', createdAt: '2024-05-01T10:00:00.000Z', updatedAt: '2024-05-01T10:00:00.500Z' })
  })

  test('the export header carries the schema version and the definition fingerprint', async () => {
    const migrations: Migration[] = [
      { version: 1, name: 'first', up: async () => undefined },
      { version: 3, name: 'third', up: async () => undefined },
    ]
    const store = await (await backend.tempStore())({ role: 'app', collections, migrations })
    const file = join(tempDir(), 'e.ndjson')
    const result = await exportStore(store, { to: file })
    const header = JSON.parse(readFileSync(file, 'utf8').split('\n')[0]!) as Record<string, unknown>
    expect(header).toMatchObject({ tandem: 'export', format: 2, schemaVersion: 3, fingerprint: store.fingerprint })
    expect(result).toMatchObject({ schemaVersion: 3, fingerprint: store.fingerprint })
  })

  test('an export made under another schema version is refused, naming both versions and what to do; allowSchemaMismatch imports it', async () => {
    const v1: Migration[] = [{ version: 1, name: 'add-title', up: async () => undefined }]
    const v2: Migration[] = [...v1, { version: 2, name: 'split-title', up: async () => undefined }]
    const old = await (await backend.tempStore())({ role: 'app', collections, migrations: v1 })
    await old.collection('tasks').insert({ title: 'from v1' }, { id: 't1' })
    const newer = await (await backend.tempStore())({ role: 'app', collections, migrations: v2 })
    await newer.collection('tasks').insert({ title: 'from v2' }, { id: 't2' })
    const dir = tempDir()
    await exportStore(old, { to: join(dir, 'v1.ndjson') })
    await exportStore(newer, { to: join(dir, 'v2.ndjson') })

    const newerBefore = await storeState(newer)
    const tooOld = await importStore(newer, { from: join(dir, 'v1.ndjson'), onConflict: 'fail' }).catch((e: unknown) => e)
    expect(tooOld).toMatchObject({ code: 'SCHEMA_TOO_OLD', line: 1 })
    expect((tooOld as Error).message).toMatch(/schema version 1.*this store is at version 2.*migration 2 "split-title"/)
    expect((tooOld as { hint: string }).hint).toMatch(/allowSchemaMismatch/)
    expect(await storeState(newer)).toEqual(newerBefore)

    const oldBefore = await storeState(old)
    const tooNew = await importStore(old, { from: join(dir, 'v2.ndjson'), onConflict: 'fail' }).catch((e: unknown) => e)
    expect(tooNew).toMatchObject({ code: 'SCHEMA_TOO_NEW', line: 1 })
    expect((tooNew as Error).message).toMatch(/schema version 2.*this store is at version 1/)
    expect(await storeState(old)).toEqual(oldBefore)

    const forced = await importStore(newer, { from: join(dir, 'v1.ndjson'), onConflict: 'fail', allowSchemaMismatch: true })
    expect(forced.collections).toEqual({ tasks: { inserted: 1, overwritten: 0, skipped: 0 } })
    expect(await newer.collection('tasks').get('t1')).toMatchObject({ data: { title: 'from v1' } })
  })

  test('an export whose migrations have other names at the same versions is refused', async () => {
    const ours: Migration[] = [{ version: 1, name: 'add-title', up: async () => undefined }]
    const theirs: Migration[] = [{ version: 1, name: 'something-else', up: async () => undefined }]
    const a = await (await backend.tempStore())({ role: 'app', collections, migrations: theirs })
    await a.collection('tasks').insert({ title: 'x' })
    const b = await (await backend.tempStore())({ role: 'app', collections, migrations: ours })
    const file = join(tempDir(), 'a.ndjson')
    await exportStore(a, { to: file })
    const before = await storeState(b)
    const error = await importStore(b, { from: file, onConflict: 'fail' }).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'DEFINITION_MISMATCH', line: 2 })
    expect((error as Error).message).toMatch(/migration 1 is "something-else".*this store's migration 1 is "add-title"/)
    expect(await storeState(b)).toEqual(before)
  })
})

describe('records larger than the default line limit', () => {
  test('a record over 16 MiB: the default export refuses it clearly, and an export with a larger maxLineBytes imports back as it is', async () => {
    const dir = tempDir()
    const source = await openStore({ path: join(dir, 'a.db'), role: 'app', collections })
    const target = await openStore({ path: join(dir, 'b.db'), role: 'app', collections })
    try {
      const big = 'x'.repeat(17 * 1024 * 1024)
      await source.collection('tasks').insert({ big }, { id: 'big' })
      await source.collection('tasks').insert({ small: true }, { id: 'small' })
      const refused = await exportStore(source, { to: join(dir, 'default.ndjson') }).catch((e: unknown) => e)
      expect(refused).toMatchObject({ code: 'INVALID_DATA', collection: 'tasks', id: 'big' })
      expect((refused as Error).message).toMatch(/maxLineBytes/)

      const file = join(dir, 'big.ndjson')
      await exportStore(source, { to: file, maxLineBytes: 32 * 1024 * 1024 })
      expect(JSON.parse(readFileSync(file, 'utf8').slice(0, 4096).split('\n')[0]!)).toMatchObject({ maxLineBytes: 32 * 1024 * 1024 })
      // The import takes the limit from the header: nothing to pass.
      await importStore(target, { from: file, onConflict: 'fail' })
      expect((await target.collection('tasks').get('big'))?.data.big).toHaveLength(big.length)
      // An explicit, smaller limit still wins.
      const capped = await importStore(target, { from: file, onConflict: 'skip', maxLineBytes: 1024 * 1024 }).catch((e: unknown) => e)
      expect(capped).toMatchObject({ code: 'INVALID_DATA', line: 2 })
      expect((capped as Error).message).toMatch(/longer than 1048576 bytes/)
    } finally {
      await source.close()
      await target.close()
    }
  }, 120_000)
})

describe('an import source that is not a readable file', () => {
  test('a missing file, a directory and a FIFO are refused with a code, before anything is written', async () => {
    const dir = tempDir()
    const store = await openStore({ path: join(dir, 'app.db'), role: 'app', collections })
    try {
      const missing = await importStore(store, { from: join(dir, 'nope.ndjson'), onConflict: 'fail' }).catch((e: unknown) => e)
      expect(missing).toMatchObject({ code: 'NOT_FOUND', message: expect.stringMatching(/nope\.ndjson does not exist/) })

      mkdirSync(join(dir, 'folder'))
      const folder = await importStore(store, { from: join(dir, 'folder'), onConflict: 'fail' }).catch((e: unknown) => e)
      expect(folder).toMatchObject({ code: 'NOT_A_FILE', message: expect.stringMatching(/folder is a directory/) })

      const fifo = join(dir, 'pipe')
      execFileSync('mkfifo', [fifo])
      const outcome = await Promise.race([
        importStore(store, { from: fifo, onConflict: 'fail' }).catch((e: unknown) => e),
        new Promise((resolve) => setTimeout(() => resolve('still waiting after 5 s'), 5000)),
      ])
      if (outcome === 'still waiting after 5 s') closeSync(openSync(fifo, 'w')) // let the blocked open go
      expect(outcome).toMatchObject({ code: 'NOT_A_FILE', message: expect.stringMatching(/pipe is a FIFO/) })
    } finally {
      await store.close()
    }
  }, 30_000)
})
