import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { openStore } from '../../src/index.js'
import { tempDir } from '../helpers/backends.js'
import { expectNoStack, runCli, runCliJson } from '../helpers/cli.js'
import { forkWorker } from '../helpers/processes.js'

const COLLECTIONS = { tasks: { writers: ['server', 'cli'], indexes: ['status'] }, jobs: { writers: ['daemon'] } }

interface StatusJson {
  store: string
  schemaVersion: number
  storage: { bytes: number; walBytes: number; walLimitBytes: number }
  collections: { name: string; count: number; writers: string[] | null; indexes: string[] }[]
  processes: { pid: number; role: string; host: string; busyRetries?: number }[]
  ownership: { roles: string[]; matrix: Record<string, Record<string, boolean>> }
  contention: { busyRetries: number; longestWaitMs: number }
  changes: { head: number; trimmedThrough: number }
  consumers: { name: string; position: number; behind: number; trimmed: boolean }[]
}

test('status shows sizes, collections with owners, the change log, and another live process holding the store', async () => {
  const dir = tempDir()
  const path = join(dir, 'app.db')
  const server = await openStore({ path, role: 'server', collections: COLLECTIONS })
  await server.collection('tasks').insertMany([{ status: 'open' }, { status: 'open' }, { status: 'done' }])
  const mailer = server.consumer('mailer', { start: 'beginning' })
  const stream = await mailer.changes()
  await stream.next()
  await mailer.ack(1)
  await mailer.close()
  await server.close()

  const daemon = forkWorker('store-holder.mjs', { config: { path, role: 'daemon', collections: COLLECTIONS } })
  await daemon.waitFor('ready')

  const { status, result } = runCliJson<StatusJson>(['status', path])
  expect(status).toBe(0)
  expect(result.store).toBe(path)
  expect(result.storage.bytes).toBeGreaterThan(0)
  expect(result.collections).toEqual([
    expect.objectContaining({ name: 'jobs', count: 0, writers: ['daemon'] }),
    expect.objectContaining({ name: 'tasks', count: 3, writers: ['server', 'cli'], indexes: ['status'] }),
  ])
  // The other process is listed; the CLI's own registration (it had to open the store) is not.
  expect(result.processes).toEqual([expect.objectContaining({ pid: daemon.pid, role: 'daemon' })])
  expect(result.ownership.roles).toEqual(['cli', 'daemon', 'server'])
  expect(result.ownership.matrix.jobs).toEqual({ cli: false, daemon: true, server: false })
  expect(result.ownership.matrix.tasks).toEqual({ cli: true, daemon: false, server: true })
  expect(result.contention).toEqual({ busyRetries: 0, longestWaitMs: 0 })
  expect(result.changes.head).toBe(3)
  expect(result.consumers).toEqual([expect.objectContaining({ name: 'mailer', position: 1, behind: 2, trimmed: false })])

  const human = runCli(['status', path])
  expect(human.status, human.stderr).toBe(0)
  expect(human.stdout).toMatch(/Collections \(2\)[\s\S]*tasks\s+3\s+server, cli\s+status/)
  expect(human.stdout).toMatch(/Ownership[\s\S]*collection\s+cli\s+daemon\s+server[\s\S]*jobs\s+\.\s+w\s+\./)
  expect(human.stdout).toMatch(new RegExp(`Processes \\(1 live\\)[\\s\\S]*daemon\\s+${daemon.pid}\\s`))
  expect(human.stdout).toMatch(/mailer\s+1\s+2\s+-\s+behind/)
  expect(human.stdout).not.toMatch(/\x1b\[/) // no colours off a TTY

  daemon.send({ type: 'cmd', action: 'stop' })
  await daemon.waitFor('closed')
  const after = runCliJson<StatusJson>(['status', path])
  expect(after.result.processes).toEqual([])
})

test('status refuses a missing file (creating nothing) and a file that is not a store, with a hint and no stack', () => {
  const dir = tempDir()
  const missing = runCliJson(['status', join(dir, 'nope.db')])
  expect(missing.status).toBe(2)
  expect(missing.result).toMatchObject({ error: { code: 'STORE_NOT_FOUND', hint: expect.any(String) } })
  expect(existsSync(join(dir, 'nope.db'))).toBe(false)

  writeFileSync(join(dir, 'notes.txt'), 'hello, not a database\n'.repeat(20))
  const text = runCli(['status', join(dir, 'notes.txt')])
  expect(text.status).toBe(3)
  expect(text.stderr).toMatch(/^error NOT_A_STORE: .*not an SQLite database\.\ntry: /)
  expectNoStack(text)
})

test('status without a store argument uses the config found upward; without either it says what to do', async () => {
  const dir = tempDir()
  const path = join(dir, 'data', 'app.db')
  const store = await openStore({ path, role: 'server', collections: COLLECTIONS })
  await store.close()
  writeFileSync(join(dir, 'tandem.config.json'), JSON.stringify({ path: 'data/app.db', collections: COLLECTIONS }))
  const found = runCliJson<StatusJson>(['status'], { cwd: join(dir, 'data') })
  expect(found.status).toBe(0)
  expect(found.result.store).toBe(path)

  const bare = tempDir()
  const none = runCli(['status'], { cwd: bare })
  expect(none.status).toBe(2)
  expect(none.stderr).toMatch(/^error NO_STORE: No store given, and no tandem\.config\.ts\|mjs\|js\|json was found/)
  expect(none.stderr).toMatch(/\ntry: Name the store file/)
})
