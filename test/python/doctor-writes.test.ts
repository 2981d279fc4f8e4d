import { join } from 'node:path'
import { expect, onTestFinished, test } from 'vitest'
import { openStore, type Change } from '../../src/index.js'
import { tempDir } from '../helpers/backends.js'
import { runCliJson } from '../helpers/cli.js'
import { pythonOk, repoFile } from './python-helpers.js'

// `tandem doctor` finds writes that bypassed docs/protocol.md: a Python program writing the SQLite
// file with plain statements (no change-log entry, a version set back, a row rewritten in place) is
// reported record by record; the same kinds of writes made through clients/python/tandem_sqlite.py
// are not, and reach the change feed.

const SCRIPT = repoFile('test/python/raw_writes.py')
const collections = { tasks: { writers: '*' }, ledger: { writers: '*', history: 'full' } } as const

interface DoctorJson {
  ok: boolean
  checks: { title: string; status: string; summary: string; details?: string[] }[]
}

async function prepare(): Promise<string> {
  const dataDir = tempDir()
  const store = await openStore({ dataDir, path: 'store.db', role: 'app', collections })
  for (let i = 1; i <= 6; i++) await store.collection('tasks').insert({ title: `task ${i}`, done: false }, { id: `t-${i}` })
  await store.collection('tasks').patch('t-2', { done: true })
  await store.collection('tasks').patch('t-2', { done: false })
  await store.collection('ledger').insert({ amount: 1 }, { id: 'l-1' })
  await store.close()
  return join(dataDir, 'store.db')
}

function writesCheck(file: string): DoctorJson['checks'][number] {
  const { result } = runCliJson<DoctorJson>(['doctor', file])
  return result.checks.find((c) => c.title === 'writes outside Tandem')!
}

test('writes that follow the protocol reach the feed and doctor finds nothing to report', async () => {
  const file = await prepare()
  await pythonOk(SCRIPT, ['protocol', file])
  expect(writesCheck(file)).toMatchObject({ status: 'ok' })
  expect(runCliJson<DoctorJson>(['doctor', file]).result.ok).toBe(true)

  const store = await openStore({ path: file, role: 'app', collections })
  onTestFinished(() => store.close())
  const seen: Change[] = []
  for await (const c of store.changes({ since: 'beginning' })) {
    seen.push(c)
    if (c.seq === (await store.backend.changeHead())) break
  }
  const python = seen.filter((c) => c.role === 'python').map((c) => [c.collection, c.id, c.op, c.version])
  expect(python).toEqual([
    ['tasks', 'py-1', 'insert', 1],
    ['tasks', 't-1', 'update', 2],
    ['tasks', 't-2', 'update', 4],
    ['tasks', 't-3', 'update', 2],
    ['tasks', 't-4', 'delete', 1],
    ['ledger', 'l-1', 'update', 2],
    // py-2 inserted, deleted, inserted again: the delete coalesced the first insert, the tombstone stays.
    ['tasks', 'py-2', 'delete', 1],
    ['tasks', 'py-2', 'insert', 1],
  ])
  // history: 'full' keeps the copy of each version, as a Tandem write does.
  expect(seen.find((c) => c.collection === 'ledger' && c.version === 2)).toMatchObject({ data: { amount: 2 }, dataVersion: 2 })
  expect((await store.collection('tasks').get('t-2'))?.data).toEqual({ title: 'renamed' })
})

test('doctor reports each record a raw write changed without the protocol', async () => {
  const file = await prepare()
  await pythonOk(SCRIPT, ['raw', file])
  const { status, result } = runCliJson<DoctorJson>(['doctor', file])
  expect(status).not.toBe(0)
  expect(result.ok).toBe(false)
  const check = result.checks.find((c) => c.title === 'writes outside Tandem')!
  expect(check.status).toBe('fail')
  expect(check.summary).toMatch(/^6 records changed without a change-log entry/)
  const details = check.details!.join('\n')
  expect(details).toContain('tasks/t-1 is at version 2 (role "app"), but its last change-log entry is insert of version 1')
  expect(details).toContain(
    'tasks/t-2 is at version 1 (role "app"), but its last change-log entry is update of version 3: its version went backwards',
  )
  expect(details).toContain('tasks/raw-1 is at version 1 (role "script") with no change-log entry')
  expect(details).toContain('tasks/t-5 is gone, but its last change-log entry is insert of version 1')
  expect(details).toContain('tasks/t-6 was changed after its last change-log entry')
  expect(details).toContain('ledger/l-1 at version 1 (role "app") differs from the copy its change-log entry keeps')
})
