import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { openStore } from '../../src/index.js'
import { tempDir } from '../helpers/backends.js'
import { expectNoStack, runCli, runCliJson } from '../helpers/cli.js'

// Issue 16, item 4, on the command line: an import source that is a directory or a missing file
// failed as INTERNAL; `tandem import` had no --max-line-bytes, so a record over 16 MiB exported
// but could not be imported back; an export of another schema version went in unnoticed.

interface ErrorJson {
  error: { code: string; message: string; hint: string | null }
}

const COLLECTIONS = { tasks: { writers: ['server', 'cli'] } }

async function project(options: { migrations?: number } = {}): Promise<string> {
  const dir = tempDir()
  const migrations = Array.from({ length: options.migrations ?? 0 }, (_, i) => ({
    version: i + 1,
    name: `m${i + 1}`,
    up: async () => undefined,
  }))
  const store = await openStore({ path: join(dir, 'app.db'), role: 'server', collections: COLLECTIONS, migrations })
  await store.collection('tasks').insert({ title: 'one' }, { id: 't1' })
  await store.close()
  writeFileSync(
    join(dir, 'tandem.config.mjs'),
    `export default { path: 'app.db', collections: ${JSON.stringify(COLLECTIONS)}, migrations: Array.from({ length: ${options.migrations ?? 0} }, (_, i) => ({ version: i + 1, name: 'm' + (i + 1), up: async () => undefined })) }\n`,
  )
  return dir
}

test('tandem import of a directory or a missing file fails with a code and a hint, not INTERNAL', async () => {
  const dir = await project()
  mkdirSync(join(dir, 'exports'))
  const folder = runCliJson<ErrorJson>(['import', 'exports'], { cwd: dir })
  expect(folder.status).toBe(3)
  expect(folder.result.error).toMatchObject({
    code: 'NOT_A_FILE',
    message: expect.stringMatching(/exports is a directory, not a file/),
    hint: expect.stringMatching(/-/),
  })
  const missing = runCli(['import', 'nope.ndjson'], { cwd: dir })
  expect(missing.status).toBe(3)
  expect(missing.stderr).toMatch(/^error NOT_FOUND: The import file .*nope\.ndjson does not exist/m)
  expect(missing.stderr).toMatch(/^try: /m)
  expectNoStack(missing)
})

test('--max-line-bytes on export and import: a big record is refused by default, and goes through with the limit raised on export', async () => {
  const dir = await project()
  const store = await openStore({ path: join(dir, 'app.db'), role: 'server', collections: COLLECTIONS })
  await store.collection('tasks').insert({ big: 'y'.repeat(2 * 1024 * 1024) }, { id: 'big' })
  await store.close()

  const refused = runCliJson<ErrorJson>(['export', '--out', 'small.ndjson', '--max-line-bytes', '1MiB'], { cwd: dir })
  expect(refused.status).toBe(3)
  expect(refused.result.error).toMatchObject({
    code: 'INVALID_DATA',
    message: expect.stringMatching(/tasks\/big .* longer than maxLineBytes \(1 MiB\)/),
    hint: expect.stringMatching(/--max-line-bytes/),
  })

  const exported = runCliJson(['export', '--out', 'big.ndjson', '--max-line-bytes', '4MiB'], { cwd: dir })
  expect(exported.status).toBe(0)
  expect(JSON.parse(readFileSync(join(dir, 'big.ndjson'), 'utf8').split('\n')[0]!)).toMatchObject({ maxLineBytes: 4 * 1024 * 1024 })

  const capped = runCliJson<ErrorJson>(['import', 'big.ndjson', '--on-conflict', 'skip', '--max-line-bytes', '1048576'], { cwd: dir })
  expect(capped.status).toBe(3)
  expect(capped.result.error).toMatchObject({
    code: 'INVALID_DATA',
    message: expect.stringMatching(/^Line \d+ of big\.ndjson: The line is longer than 1048576 bytes/),
  })

  const imported = runCliJson<{ collections: Record<string, { skipped: number }> }>(['import', 'big.ndjson', '--on-conflict', 'skip'], {
    cwd: dir,
  })
  expect(imported.status).toBe(0)
  expect(imported.result.collections.tasks).toMatchObject({ skipped: 2 })

  const bad = runCliJson<ErrorJson>(['import', 'big.ndjson', '--max-line-bytes', 'lots'], { cwd: dir })
  expect(bad.status).toBe(2)
  expect(bad.result.error).toMatchObject({ code: 'USAGE', message: expect.stringMatching(/--max-line-bytes/) })
})

test('tandem import refuses an export of another schema version, and --allow-schema-mismatch takes it', async () => {
  const old = await project({ migrations: 1 })
  expect(runCli(['export', '--out', join(old, 'v1.ndjson')], { cwd: old }).status).toBe(0)
  const dir = await project({ migrations: 2 })
  const refused = runCliJson<ErrorJson>(['import', join(old, 'v1.ndjson'), '--on-conflict', 'skip'], { cwd: dir })
  expect(refused.status).toBe(3)
  expect(refused.result.error).toMatchObject({ code: 'SCHEMA_TOO_OLD', hint: expect.stringMatching(/--allow-schema-mismatch/) })
  const taken = runCliJson<{ source: { schemaVersion: number } }>(
    ['import', join(old, 'v1.ndjson'), '--on-conflict', 'skip', '--allow-schema-mismatch'],
    { cwd: dir },
  )
  expect(taken.status).toBe(0)
  expect(taken.result.source).toMatchObject({ schemaVersion: 1 })
})
