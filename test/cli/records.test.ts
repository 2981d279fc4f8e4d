import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { tempDir } from '../helpers/backends.js'
import { expectNoStack, runCli, runCliJson } from '../helpers/cli.js'

interface RecordJson {
  id: string
  version: number
  role: string
  data: Record<string, unknown>
}

/** A project directory with tandem.config.json; commands run from a subdirectory to find it upward. */
function project(): { dir: string; cwd: string } {
  const dir = tempDir()
  writeFileSync(
    join(dir, 'tandem.config.json'),
    JSON.stringify({
      path: 'data/app.db',
      collections: { tasks: { writers: ['cli', 'ops'], indexes: ['status'] }, jobs: { writers: ['daemon'] } },
      roles: { daemon: { singleton: true } },
    }),
  )
  const cwd = join(dir, 'src', 'deep')
  mkdirSync(cwd, { recursive: true })
  return { dir, cwd }
}

test('find, get, put, patch and delete round-trip records through the config found upward', () => {
  const { cwd } = project()
  // Writes refuse to create a store by accident; migrate creates it from the config.
  const early = runCliJson(['put', 'tasks', '--data', '{"title":"x"}'], { cwd })
  expect(early).toMatchObject({ status: 2, result: { error: { code: 'STORE_NOT_FOUND' } } })
  expect(runCli(['migrate'], { cwd }).status).toBe(0)

  const inserted = runCliJson<RecordJson>(['put', 'tasks', '--data', '{"title":"write docs","status":"open"}'], { cwd })
  expect(inserted.status).toBe(0)
  expect(inserted.result).toMatchObject({ version: 1, role: 'cli', data: { title: 'write docs', status: 'open' } })
  const named = runCliJson<RecordJson>(['put', 'tasks', 't-42', '--data', '{"title":"ship","status":"open"}', '--as', 'ops'], { cwd })
  expect(named.result).toMatchObject({ id: 't-42', version: 1, role: 'ops' })

  const got = runCliJson<RecordJson>(['get', 'tasks', 't-42'], { cwd })
  expect(got.result).toMatchObject({ id: 't-42', data: { title: 'ship' } })
  const shown = runCli(['get', 'tasks', 't-42'], { cwd })
  expect(shown.stdout).toMatch(/^tasks\/t-42 {2}version 1, updated .* by ops/)

  const patched = runCliJson<RecordJson>(['patch', 'tasks', 't-42', '--data', '{"status":"done"}', '--if-version', '1'], { cwd })
  expect(patched.result).toMatchObject({ version: 2, data: { title: 'ship', status: 'done' } })
  const stale = runCliJson(['patch', 'tasks', 't-42', '--data', '{"status":"open"}', '--if-version', '1'], { cwd })
  expect(stale).toMatchObject({
    status: 3,
    result: { error: { code: 'VERSION_CONFLICT', message: expect.stringMatching(/at version 2, not 1/), hint: expect.any(String) } },
  })

  const open = runCliJson<{ records: RecordJson[]; next: string | null }>(['find', 'tasks', '--where', '{"status":"open"}'], { cwd })
  expect(open.result.records.map((r) => r.data.title)).toEqual(['write docs'])
  const page = runCliJson<{ records: RecordJson[]; next: string | null }>(
    ['find', 'tasks', '--order-by', '$updatedAt:desc', '--limit', '1'],
    { cwd },
  )
  expect(page.result.records.map((r) => r.id)).toEqual(['t-42'])
  const rest = runCliJson<{ records: RecordJson[]; next: string | null }>(
    ['find', 'tasks', '--order-by=-$updatedAt', '--limit', '1', '--after', page.result.next!],
    { cwd },
  )
  expect(rest.result).toMatchObject({ records: [{ data: { title: 'write docs' } }], next: null })
  const table = runCli(['find', 'tasks'], { cwd })
  expect(table.stdout).toMatch(/^id\s+v\s+updated\s+by\s+title\s+status\n/)
  expect(table.stdout).toMatch(/t-42\s+2\s+\S+\s+cli\s+ship\s+done/)
  expect(table.stdout).toMatch(/2 records\.\n$/)

  const staleDelete = runCliJson(['delete', 'tasks', 't-42', '--if-version', '1'], { cwd })
  expect(staleDelete).toMatchObject({ status: 3, result: { error: { code: 'VERSION_CONFLICT' } } })
  expect(runCliJson(['delete', 'tasks', 't-42', '--if-version', '2'], { cwd }).result).toEqual({
    collection: 'tasks',
    id: 't-42',
    deleted: true,
  })
  const gone = runCli(['get', 'tasks', 't-42'], { cwd })
  expect(gone.status).toBe(3)
  expect(gone.stderr).toMatch(/^error NOT_FOUND: Record tasks\/t-42 does not exist\.\ntry: /)
})

test('writes go through ownership: the wrong --as role is refused with NOT_OWNER, exit 3, nothing written', () => {
  const { cwd } = project()
  runCli(['migrate'], { cwd })
  const refused = runCliJson(['put', 'jobs', '--data', '{"kind":"reindex"}'], { cwd })
  expect(refused.status).toBe(3)
  expect(refused.result).toMatchObject({
    error: {
      code: 'NOT_OWNER',
      message: expect.stringMatching(/Only role "daemon" writes "jobs"; this process is "cli"/),
      hint: expect.any(String),
    },
  })
  const human = runCli(['put', 'jobs', '--data', '{"kind":"reindex"}', '--as', 'ops'], { cwd })
  expect(human.status).toBe(3)
  expect(human.stderr).toMatch(/^error NOT_OWNER: .*"ops".*\ntry: .*\n$/)
  expectNoStack(human)
  expect(runCliJson<{ records: unknown[] }>(['find', 'jobs'], { cwd }).result.records).toEqual([])
  expect(runCliJson(['put', 'jobs', '--data', '{"kind":"reindex"}', '--as', 'daemon'], { cwd }).status).toBe(0)
})

test('writes go through the schema of an ES module config, and bad input is a usage error (exit 2)', () => {
  const dir = tempDir()
  // A Standard Schema validator written by hand, so the config needs no package from this repo.
  writeFileSync(
    join(dir, 'tandem.config.mjs'),
    `const task = { '~standard': { version: 1, vendor: 'test', validate: (v) =>
       typeof v.title === 'string' ? { value: v } : { issues: [{ message: 'title must be a string', path: ['title'] }] } } }
     export default { path: 'app.db', collections: { tasks: { writers: ['cli'], schema: task } } }\n`,
  )
  runCli(['migrate'], { cwd: dir })
  const invalid = runCliJson(['put', 'tasks', '--data', '{"title":7}'], { cwd: dir })
  expect(invalid).toMatchObject({
    status: 3,
    result: { error: { code: 'SCHEMA_INVALID', message: expect.stringMatching(/title: title must be a string/) } },
  })
  expect(runCliJson(['put', 'tasks', '--data', '{"title":"ok"}'], { cwd: dir }).status).toBe(0)

  expect(runCliJson(['put', 'tasks', '--data', '{not json'], { cwd: dir }).result).toMatchObject({
    error: { code: 'USAGE', message: expect.stringMatching(/--data is not valid JSON/) },
  })
  expect(runCli(['put', 'tasks'], { cwd: dir }).status).toBe(2)
  expect(runCli(['patch', 'tasks'], { cwd: dir }).stderr).toMatch(/^error USAGE: Missing <id>\./)
  expect(runCli(['find', 'tasks', '--limit', '0'], { cwd: dir }).status).toBe(2)
  expect(runCli(['put', 'tasks', '--data', '{}', '--as', 'no spaces'], { cwd: dir }).status).toBe(2)
  const noConfig = runCliJson(['put', 'tasks', '--data', '{}'], { cwd: tempDir() })
  expect(noConfig).toMatchObject({ status: 2, result: { error: { code: 'NO_CONFIG' } } })
})
