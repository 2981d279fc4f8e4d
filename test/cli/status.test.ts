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
    expect.objectContaining({ name: 'tasks', count: 3, writers: ['cli', 'server'], indexes: ['status'] }),
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
  expect(human.stdout).toMatch(/Collections \(2\)[\s\S]*tasks\s+3\s+cli, server\s+status/)
  expect(human.stdout).toMatch(/Ownership[\s\S]*collection\s+cli\s+daemon\s+server[\s\S]*jobs\s+\.\s+w\s+\./)
  expect(human.stdout).toMatch(new RegExp(`Processes \\(1 live\\)[\\s\\S]*daemon\\s+${daemon.pid}\\s`))
  // Each process's definition fingerprint, the last column.
  expect(human.stdout).toMatch(new RegExp(`^\\s+daemon\\s+${daemon.pid}\\s.*\\s[0-9a-f]{16}$`, 'm'))
  expect(human.stdout).toMatch(/mailer\s+1\s+2\s+-\s+behind/)
  expect(human.stdout).not.toContain('\x1b[') // no colours off a TTY

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
  const none = runCli(['status'], { cwd: bare, env: { TANDEM_STORE: '' } })
  expect(none.status).toBe(2)
  expect(none.stderr).toMatch(
    /^error NO_STORE: No store given: no \[store\] argument, no --store, no TANDEM_STORE, and no tandem\.config\.ts\|mjs\|js\|json was found/,
  )
  expect(none.stderr).toMatch(/\ntry: Name the store \(tandem status data\/app\.db, or --store postgres:/)
})

test('a consumer\'s "behind" counts only the changes its filter lets through, in status and doctor', async () => {
  const path = join(tempDir(), 'app.db')
  const collections = { tasks: { writers: ['server'] }, notes: { writers: ['server'] } }
  const store = await openStore({ path, role: 'server', collections })
  const [first] = await store.collection('tasks').insertMany([{ title: 'a' }])
  // Three consumers read from the beginning and acknowledge the first change (seq 1).
  for (const [name, options] of [
    ['all', {}],
    ['tasks-only', { collections: ['tasks'] }],
    ['one-id', { ids: [first!.id] }],
  ] as const) {
    const consumer = store.consumer(name, { start: 'beginning', ...options })
    const stream = await consumer.changes()
    await stream.next()
    await consumer.ack(1)
    await consumer.close()
  }
  await store.collection('tasks').insertMany([{ title: 'b' }, { title: 'c' }])
  await store.collection('notes').insertMany([{ text: '1' }, { text: '2' }, { text: '3' }, { text: '4' }, { text: '5' }])
  await store.collection('tasks').update(first!.id, () => ({ title: 'a2' }))
  await store.close()

  const { result } = runCliJson<StatusJson>(['status', path])
  expect(result.changes.head).toBe(9)
  expect(result.consumers).toEqual([
    expect.objectContaining({ name: 'all', position: 1, behind: 8 }),
    expect.objectContaining({ name: 'one-id', position: 1, behind: 1 }),
    expect.objectContaining({ name: 'tasks-only', position: 1, behind: 3 }),
  ])
  expect(runCli(['status', path]).stdout).toMatch(/tasks-only\s+1\s+3\s+-\s+behind/)
  const doctor = runCliJson<{ checks: { title: string; summary: string }[] }>(['doctor', path])
  expect(doctor.result.checks.find((c) => c.title === 'consumers')?.summary).toMatch(/furthest behind: "all", 8 changes/)
})
