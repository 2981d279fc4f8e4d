import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { hostTag } from '../../src/fs/durable-file.js'
import { currentProcess } from '../../src/fs/process-identity.js'
import { openStore } from '../../src/index.js'
import { tempDir } from '../helpers/backends.js'
import { runCli, runCliJson } from '../helpers/cli.js'

// A files store (a directory) through the CLI: doctor's checks, and export/import moving data
// between SQLite and a files store and back.

interface DoctorJson {
  ok: boolean
  checks: { title: string; status: string; summary: string; details?: string[]; fixed: boolean }[]
}

const COLLECTIONS = { todos: { writers: '*' }, tasks: { writers: '*' } } as const

test('doctor reports orphaned temp files, dead locks and invalid lines of a files store; --fix removes the leftovers only', async () => {
  const dir = join(tempDir(), 'records')
  const store = await openStore({ files: { dir }, role: 'app', collections: COLLECTIONS })
  await store.collection('todos').insert({ title: 'a' }, { id: 't1' })
  await store.close()
  expect(runCliJson<DoctorJson>(['doctor', dir])).toMatchObject({ status: 0, result: { ok: true } })

  // What a SIGKILLed writer leaves: its temp file and its lock; and a person's bad edit.
  const dead = 2 ** 22 + 1234 // beyond pid_max's default: certainly not running
  writeFileSync(join(dir, 'collections', `.todos.jsonl.${dead}-0badf00d.${hostTag()}.tmp`), 'half a fi')
  writeFileSync(
    join(dir, '.tandem', 'store.lock'),
    JSON.stringify({ ...currentProcess(), pid: dead, procStart: undefined, token: 'a'.repeat(24) }),
  )
  const file = join(dir, 'collections', 'todos.jsonl')
  writeFileSync(file, `${readFileSync(file, 'utf8')}not json\n`)
  const sick = runCliJson<DoctorJson>(['doctor', dir])
  expect(sick.status).not.toBe(0)
  const byTitle = Object.fromEntries(sick.result.checks.map((c) => [c.title, c]))
  expect(byTitle['record files']).toMatchObject({ status: 'fail' })
  expect(byTitle['record files']!.details!.join('\n')).toContain(`${file} line 2`)
  expect(byTitle['temp and lock files']).toMatchObject({ status: 'warn' })
  expect(byTitle['temp and lock files']!.details).toHaveLength(2)

  const fixed = runCliJson<DoctorJson>(['doctor', dir, '--fix'])
  expect(fixed.result.checks.find((c) => c.title === 'temp and lock files')).toMatchObject({ fixed: true })
  expect(readFileSync(file, 'utf8')).toContain('not json') // never rewrites a record file
  const again = runCliJson<DoctorJson>(['doctor', dir])
  expect(again.result.checks.find((c) => c.title === 'temp and lock files')).toMatchObject({ status: 'ok' })
})

test('export/import move a store from SQLite to a files store and back, unchanged', async () => {
  const dir = tempDir()
  writeFileSync(join(dir, 'tandem.config.json'), JSON.stringify({ path: 'app.db', collections: COLLECTIONS }))
  const sqlite = await openStore({ path: join(dir, 'app.db'), role: 'app', collections: COLLECTIONS })
  for (let i = 0; i < 20; i++)
    await sqlite.collection('todos').insert({ i, title: `todo ${i}`, tags: ['a', 'b'], nested: { z: 1, a: [i] } })
  await sqlite.collection('tasks').insert({ title: 'only task' }, { id: 'task-1' })
  await sqlite.collection('todos').update((await sqlite.collection('todos').find({ limit: 1 }))[0]!.id, (d) => ({ ...d, done: true }))
  const original = [...(await sqlite.collection('todos').find()), ...(await sqlite.collection('tasks').find())]
  await sqlite.close()

  // SQLite -> files (a new files store: openStore creates it, as an app would).
  const records = join(dir, 'records')
  await (await openStore({ files: { dir: records }, role: 'app', collections: COLLECTIONS })).close()
  expect(runCli(['export', 'app.db', '--out', 'from-sqlite.ndjson'], { cwd: dir }).status).toBe(0)
  const intoFiles = runCli(['import', 'from-sqlite.ndjson', '--store', records, '--as', 'app'], { cwd: dir })
  expect(intoFiles.status, intoFiles.stderr).toBe(0)
  const files = await openStore({ files: { dir: records }, role: 'app', collections: COLLECTIONS })
  const inFiles = [...(await files.collection('todos').find()), ...(await files.collection('tasks').find())]
  expect(inFiles).toEqual(original)
  await files.close()
  expect(readFileSync(join(records, 'collections', 'tasks.jsonl'), 'utf8')).toContain('"id":"task-1"')

  // files -> a fresh SQLite store.
  expect(runCli(['export', records, '--out', 'from-files.ndjson'], { cwd: dir }).status).toBe(0)
  await (await openStore({ path: join(dir, 'back.db'), role: 'app', collections: COLLECTIONS })).close()
  const back = runCli(['import', 'from-files.ndjson', '--store', 'back.db', '--as', 'app'], { cwd: dir })
  expect(back.status, back.stderr).toBe(0)
  const again = await openStore({ path: join(dir, 'back.db'), role: 'app', collections: COLLECTIONS })
  expect([...(await again.collection('todos').find()), ...(await again.collection('tasks').find())]).toEqual(original)
  await again.close()
})
