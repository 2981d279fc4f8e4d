import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { z } from 'zod'
import { importStore, ImportError } from '../../src/lifecycle.js'
import { BACKENDS, tempDir } from '../helpers/backends.js'
import { exportFile, recordLine, storeState } from '../helpers/transfer.js'

const Task = z.object({ title: z.string(), n: z.number() })
const collections = { tasks: { writers: ['app'], schema: Task }, notes: { writers: '*' } } as const

/** 300 good records; the corrupt line replaces record number 250 (line 251, after the header). */
function fileWith(corrupt: string): string {
  const lines = Array.from({ length: 300 }, (_, i) => recordLine('tasks', `t${String(i).padStart(4, '0')}`, { title: `task ${i}`, n: i }))
  lines[249] = corrupt
  return exportFile(lines)
}

describe.each(BACKENDS)('a bad import line on $name', (backend) => {
  async function setup() {
    const store = await (await backend.tempStore())({ role: 'app', collections })
    // The target already holds data, changes and a record the file would overwrite.
    await store.collection('tasks').insert({ title: 'kept', n: -1 }, { id: 't0001' })
    await store.collection('notes').insert({ text: 'kept' })
    return store
  }

  // What the bad line is, the line, the code it fails with, and what the message says.
  const cases: [name: string, line: string, code: string, message: RegExp][] = [
    ['malformed JSON', '{"collection":"tasks","id":"t0249","version":1,', 'INVALID_DATA', /not valid JSON/],
    [
      'a record the schema refuses',
      recordLine('tasks', 't0249', { title: 42, n: 'x' }),
      'SCHEMA_INVALID',
      /does not match its schema: title: .*n: /,
    ],
    [
      'a __proto__ key in the data',
      recordLine('tasks', 't0249', { title: 'a', n: 1 }).replace('"n":1', '"n":1,"__proto__":{"polluted":true}'),
      'INVALID_DATA',
      /"__proto__" key/,
    ],
    [
      'a nested __proto__ key',
      recordLine('notes', 'n1', { deep: { list: [{ ok: 1 }] } }).replace('{"ok":1}', '{"__proto__":{"polluted":true}}'),
      'INVALID_DATA',
      /data\.deep\.list\[0\]\.__proto__/,
    ],
    [
      'a __proto__ key beside the record fields',
      recordLine('tasks', 't0249', { title: 'a', n: 1 }).replace('{"collection"', '{"__proto__":{"polluted":true},"collection"'),
      'INVALID_DATA',
      /unknown field "__proto__"/,
    ],
    ['an array instead of a record', '[1,2,3]', 'INVALID_DATA', /an array, not a JSON object/],
    [
      'a missing version',
      recordLine('tasks', 't0249', { title: 'a', n: 1 }).replace('"version":1,', ''),
      'INVALID_DATA',
      /has no "version"/,
    ],
    [
      'a version of 0',
      recordLine('tasks', 't0249', { title: 'a', n: 1 }, { version: 0 }),
      'INVALID_DATA',
      /"version" must be a positive integer/,
    ],
    [
      'a bad date',
      recordLine('tasks', 't0249', { title: 'a', n: 1 }, { createdAt: 'yesterday' }),
      'INVALID_DATA',
      /"createdAt" must be an ISO 8601 date/,
    ],
    ['an id with a control character', recordLine('tasks', 'bad\u0007id', { title: 'a', n: 1 }), 'INVALID_DATA', /control characters/],
    [
      'a bad role',
      recordLine('tasks', 't0249', { title: 'a', n: 1 }, { role: 'no spaces allowed' }),
      'INVALID_DATA',
      /role must be 1 to 64/,
    ],
    ['an undeclared collection', recordLine('ghosts', 'g1', { boo: true }), 'UNKNOWN_COLLECTION', /Collection "ghosts" is not declared/],
    ['a header in the middle', JSON.stringify({ tandem: 'export', format: 1 }), 'INVALID_DATA', /header line .* may only come first/],
  ]

  test('each kind of bad line stops the import with its line number and leaves the store exactly as it was', async () => {
    // One store for every case: each failed import must leave it exactly as it was, for the next.
    const store = await setup()
    const before = await storeState(store)
    const file = join(tempDir(), 'bad.ndjson')
    for (const [name, corrupt, code, message] of cases) {
      writeFileSync(file, fileWith(corrupt))
      for (const dryRun of [true, false]) {
        const error = await importStore(store, { from: file, onConflict: 'overwrite', dryRun }).catch((e: unknown) => e)
        expect(error, name).toBeInstanceOf(ImportError)
        expect(error, name).toMatchObject({ code, line: 251, location: 'line 251 of bad.ndjson' })
        expect((error as Error).message, name).toMatch(/^Line 251 of bad\.ndjson: /)
        expect((error as Error).message, name).toMatch(message)
        expect((error as Error).message, name).toMatch(/The import was rolled back; the store is as it was\.$/)
        expect(await storeState(store), name).toEqual(before)
      }
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  test('the issues of a schema error are kept on the ImportError', async () => {
    const store = await setup()
    const file = join(tempDir(), 'bad.ndjson')
    writeFileSync(file, fileWith(recordLine('tasks', 't0249', { title: 42, n: 1 })))
    const error = (await importStore(store, { from: file, onConflict: 'skip' }).catch((e: unknown) => e)) as ImportError
    expect(error.issues?.map((i) => i.path.join('.'))).toEqual(['title'])
    expect(error).toMatchObject({ collection: 'tasks', id: 't0249' })
  })

  test('a file cut short (header, no end line) is refused, naming its last line', async () => {
    const store = await setup()
    const before = await storeState(store)
    const full = fileWith(recordLine('tasks', 't0249', { title: 'fine', n: 1 }))
    const file = join(tempDir(), 'cut.ndjson')
    writeFileSync(file, full.slice(0, full.lastIndexOf('{"tandem":"end"')))
    const error = await importStore(store, { from: file, onConflict: 'skip' }).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'INVALID_DATA', line: 301 })
    expect((error as Error).message).toMatch(/cut short/)
    expect(await storeState(store)).toEqual(before)

    // Cut in the middle of a line: that line is malformed.
    writeFileSync(file, full.slice(0, full.length / 2))
    expect(await importStore(store, { from: file, onConflict: 'skip' }).catch((e: unknown) => e)).toMatchObject({ code: 'INVALID_DATA' })
    expect(await storeState(store)).toEqual(before)
  })

  test('an end line whose counts do not match, or a line after it, is refused', async () => {
    const store = await setup()
    const before = await storeState(store)
    const file = join(tempDir(), 'edited.ndjson')
    const lines = fileWith(recordLine('tasks', 't0249', { title: 'fine', n: 1 }))
      .trimEnd()
      .split('\n')
    writeFileSync(file, [...lines.slice(0, 150), ...lines.slice(151)].join('\n'))
    expect(await importStore(store, { from: file, onConflict: 'skip' }).catch((e: unknown) => e)).toMatchObject({
      code: 'INVALID_DATA',
      line: 301,
      message: expect.stringMatching(/counts 300 records of "tasks" but the file holds 299/),
    })
    writeFileSync(file, [...lines, recordLine('notes', 'late', {})].join('\n'))
    expect(await importStore(store, { from: file, onConflict: 'skip' }).catch((e: unknown) => e)).toMatchObject({
      code: 'INVALID_DATA',
      line: 303,
    })
    expect(await storeState(store)).toEqual(before)
  })

  test('invalid UTF-8 and an overlong line are refused with their line numbers', async () => {
    const store = await setup()
    const before = await storeState(store)
    const file = join(tempDir(), 'bytes.ndjson')
    const good = recordLine('notes', 'n1', { text: 'ok' })
    writeFileSync(file, Buffer.concat([Buffer.from(`${good}\n${good.replace('n1', 'n2')}\n`), Buffer.from([0x7b, 0xff, 0xfe, 0x7d, 0x0a])]))
    expect(await importStore(store, { from: file, onConflict: 'skip' }).catch((e: unknown) => e)).toMatchObject({
      code: 'INVALID_DATA',
      line: 3,
      message: expect.stringMatching(/not valid UTF-8/),
    })
    writeFileSync(file, `${good}\n${recordLine('notes', 'n2', { text: 'x'.repeat(5000) })}\n`)
    expect(await importStore(store, { from: file, onConflict: 'skip', maxLineBytes: 1000 }).catch((e: unknown) => e)).toMatchObject({
      code: 'INVALID_DATA',
      line: 2,
      message: expect.stringMatching(/longer than 1000 bytes/),
    })
    expect(await storeState(store)).toEqual(before)
  })

  test('a collection the store does not declare imports only with allowUndeclared, unvalidated', async () => {
    const store = await setup()
    const file = join(tempDir(), 'ghosts.ndjson')
    writeFileSync(file, exportFile([recordLine('ghosts', 'g1', { boo: true })]))
    await expect(importStore(store, { from: file, onConflict: 'fail' })).rejects.toMatchObject({ code: 'UNKNOWN_COLLECTION', line: 2 })
    await expect(importStore(store, { from: file, onConflict: 'fail', collections: ['ghosts'] })).rejects.toMatchObject({
      code: 'UNKNOWN_COLLECTION',
      collection: 'ghosts',
    })
    const result = await importStore(store, { from: file, onConflict: 'fail', allowUndeclared: true })
    expect(result.collections).toEqual({ ghosts: { inserted: 1, overwritten: 0, skipped: 0 } })
    const row = await store.runRead((tx) => tx.get('ghosts', 'g1'))
    expect(row).toMatchObject({ id: 'g1', data: { boo: true } })
  })

  test('lines without header and end line are plain records; blank lines and CRLF are fine', async () => {
    const store = await setup()
    const file = join(tempDir(), 'hand.ndjson')
    writeFileSync(file, `\uFEFF${recordLine('notes', 'h1', { a: 1 })}\r\n\r\n${recordLine('notes', 'h2', { b: 2 })}`)
    expect((await importStore(store, { from: file, onConflict: 'fail' })).collections).toEqual({
      notes: { inserted: 2, overwritten: 0, skipped: 0 },
    })
    expect((await store.collection('notes').get('h2'))?.data).toEqual({ b: 2 })
  })
})

test('ImportError is a TandemError with the underlying error as cause', async () => {
  const error = new ImportError('INVALID_DATA', { text: 'line 3 of x.ndjson', line: 3 }, 'Bad.', { cause: new Error('inner') })
  expect(error.message).toBe('Line 3 of x.ndjson: Bad. The import was rolled back; the store is as it was.')
  expect(error.cause).toBeInstanceOf(Error)
  expect(error.name).toBe('ImportError')
})
