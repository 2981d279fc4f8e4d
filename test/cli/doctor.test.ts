import { spawn } from 'node:child_process'
import { chmodSync, closeSync, copyFileSync, existsSync, openSync, statSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { expect, test } from 'vitest'
import { hostTag } from '../../src/fs/durable-file.js'
import { openStore } from '../../src/index.js'
import { tempDir } from '../helpers/backends.js'
import { expectNoStack, runCli, runCliJson } from '../helpers/cli.js'
import { forkWorker } from '../helpers/processes.js'

interface DoctorJson {
  ok: boolean
  checks: { title: string; status: 'ok' | 'warn' | 'fail' | 'skip'; summary: string; details?: string[]; fix?: string; fixed: boolean }[]
}

const COLLECTIONS = { tasks: { writers: ['server'] } }

async function storeWithData(dir: string, records = 50): Promise<string> {
  const path = join(dir, 'app.db')
  const store = await openStore({ path, role: 'server', collections: COLLECTIONS })
  for (let i = 0; i < records; i += 500) {
    await store
      .collection('tasks')
      .insertMany(Array.from({ length: Math.min(500, records - i) }, (_, j) => ({ n: i + j, text: 'x'.repeat(200) })))
  }
  await store.close() // the last close checkpoints: every page is in the main file now
  return path
}

function check(report: DoctorJson, title: string) {
  const found = report.checks.find((c) => c.title === title)
  expect(found, `no check "${title}"`).toBeDefined()
  return found!
}

test('doctor passes a healthy store: every check ok, exit 0', async () => {
  const path = await storeWithData(tempDir())
  const { status, result } = runCliJson<DoctorJson>(['doctor', path])
  expect(status).toBe(0)
  expect(result.ok).toBe(true)
  expect(result.checks.map((c) => [c.title, c.status])).toEqual([
    ['store file', 'ok'],
    ['side files', 'ok'],
    ['integrity', 'ok'],
    ['WAL size', 'ok'],
    ['process registry', 'ok'],
    ['change log', 'ok'],
    ['writes outside Tandem', 'ok'],
    ['consumers', 'ok'],
    ['temp and lock files', 'ok'],
    ['backup folder', 'skip'], // no backup folder named
    ['file permissions', 'ok'],
  ])
  const human = runCli(['doctor', path])
  expect(human.status).toBe(0)
  expect(human.stdout).toMatch(/ok\s+integrity\s+PRAGMA integrity_check: ok/)
  expect(human.stdout).toMatch(/No problems found\./)
})

test('doctor reports a store with garbage over its middle pages as a failed integrity check, exit 1, no stack trace', async () => {
  const dir = tempDir()
  const path = await storeWithData(dir, 3000)
  const damaged = join(dir, 'damaged.db')
  copyFileSync(path, damaged)
  const size = statSync(damaged).size
  const fd = openSync(damaged, 'r+')
  writeSync(fd, Buffer.alloc(16 * 1024, 0xa5), 0, 16 * 1024, Math.floor(size / 2 / 4096) * 4096)
  closeSync(fd)

  const { status, result } = runCliJson<DoctorJson>(['doctor', damaged])
  expect(status).toBe(1)
  expect(result.ok).toBe(false)
  expect(check(result, 'integrity')).toMatchObject({ status: 'fail', summary: expect.stringMatching(/malformed|integrity_check found/) })
  // Nothing more is read from (or written to) a damaged file.
  expect(check(result, 'process registry').status).toBe('skip')

  const human = runCli(['doctor', damaged])
  expect(human.status).toBe(1)
  expect(human.stdout).toMatch(/FAIL\s+integrity/)
  expect(human.stdout).toMatch(/advice: --fix never rewrites a database file/)
  expectNoStack(human)
  expect(human.stderr).toBe('')
})

test('doctor reports a file that is not a database as a failed "store file" check and leaves it alone', () => {
  const dir = tempDir()
  const file = join(dir, 'app.db')
  writeFileSync(file, 'this is a text file, not a database\n'.repeat(200), { mode: 0o644 })
  const { status, result } = runCliJson<DoctorJson>(['doctor', file, '--fix'])
  expect(status).toBe(1)
  expect(check(result, 'store file')).toMatchObject({ status: 'fail', summary: expect.stringMatching(/is not a database/) })
  expect(check(result, 'file permissions').status).toBe('skip')
  expect(statSync(file).mode & 0o777).toBe(0o644) // --fix does not touch what is not a store

  const human = runCli(['doctor', file])
  expect(human.status).toBe(1)
  expect(human.stdout).toMatch(/FAIL\s+store file\s+.*is not a database/)
  expectNoStack(human)
})

test('doctor --fix prunes the registration of a SIGKILLed process, removes its orphaned files and restores 0600', async () => {
  const dir = tempDir()
  const path = await storeWithData(dir)
  const holder = forkWorker('store-holder.mjs', {
    config: { path, role: 'daemon', roles: { daemon: { singleton: true } }, collections: COLLECTIONS },
  })
  const { pid } = (await holder.waitFor('ready')) as unknown as { pid: number }
  holder.kill('SIGKILL')
  await holder.exited
  chmodSync(path, 0o644)
  writeFileSync(join(dir, `.app.db.${pid}-0a1b2c3d.${hostTag()}.tmp`), 'half a backup')
  writeFileSync(join(dir, `.app.db.${pid}-0e0f0a0b.${hostTag()}-elsewhere.tmp`), 'a backup in progress on another host: must stay')
  writeFileSync(join(dir, 'app.db.lock'), String(pid))
  writeFileSync(join(dir, 'live.lock'), String(process.pid)) // held by a live process: must stay

  const before = runCliJson<DoctorJson>(['doctor', path])
  expect(before.status).toBe(1)
  expect(check(before.result, 'process registry')).toMatchObject({ status: 'warn', fix: 'prune it from the registry', fixed: false })
  expect(check(before.result, 'process registry').details).toEqual([expect.stringContaining(`pid ${pid}`)])
  expect(check(before.result, 'temp and lock files')).toMatchObject({ status: 'warn', fix: 'remove them' })
  expect(check(before.result, 'temp and lock files').details).toHaveLength(2)
  expect(check(before.result, 'file permissions')).toMatchObject({ status: 'warn', fix: expect.stringContaining('chmod 0600 app.db') })
  // Without --fix nothing changed.
  expect(statSync(path).mode & 0o777).toBe(0o644)
  expect(runCliJson<DoctorJson>(['doctor', path]).result.checks.find((c) => c.title === 'process registry')?.status).toBe('warn')

  const fixed = runCliJson<DoctorJson>(['doctor', path, '--fix'])
  expect(fixed.status).toBe(0)
  expect(fixed.result.ok).toBe(true)
  expect(check(fixed.result, 'process registry')).toMatchObject({ fixed: true, fix: 'pruned 1 stale registration' })
  expect(check(fixed.result, 'temp and lock files').fixed).toBe(true)
  expect(check(fixed.result, 'file permissions').fixed).toBe(true)
  expect(statSync(path).mode & 0o777).toBe(0o600)
  expect(existsSync(join(dir, 'app.db.lock'))).toBe(false)
  expect(existsSync(join(dir, 'live.lock'))).toBe(true)
  expect(existsSync(join(dir, `.app.db.${pid}-0e0f0a0b.${hostTag()}-elsewhere.tmp`))).toBe(true)

  const after = runCli(['doctor', path])
  expect(after.status, after.stdout).toBe(0)
  // The singleton role is free again for a newcomer.
  const store = await openStore({ path, role: 'daemon', roles: { daemon: { singleton: true } }, collections: COLLECTIONS })
  await store.close()
})

test('doctor --fix prunes the registration of a SIGKILLed process on a store that has applied migrations', async () => {
  const path = join(tempDir(), 'app.db')
  // A process of a program that knows a migration the CLI does not: it applies it, registers, and is killed.
  const script = `
    import { openStore } from ${JSON.stringify(pathToFileURL(join(import.meta.dirname, '../../dist/index.js')).href)}
    const migrations = [{ version: 1, name: 'seed', up: async (m) => { await (await m.collection('tasks')).insert({ seeded: true }) } }]
    await openStore({ path: ${JSON.stringify(path)}, role: 'daemon', roles: { daemon: { singleton: true } }, collections: { tasks: { writers: ['daemon'] } }, migrations })
    console.log('ready')
    setInterval(() => {}, 1000)
  `
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve())
    child.once('exit', (code) => reject(new Error(`the migrating process exited early (code ${code})`)))
  })
  child.kill('SIGKILL')
  await new Promise((resolve) => child.once('close', resolve))

  const before = runCliJson<DoctorJson>(['doctor', path])
  expect(check(before.result, 'process registry')).toMatchObject({ status: 'warn', details: [expect.stringContaining(`pid ${child.pid}`)] })
  const fixed = runCliJson<DoctorJson>(['doctor', path, '--fix'])
  expect(check(fixed.result, 'process registry')).toMatchObject({ fixed: true, fix: 'pruned 1 stale registration' })
  expect(fixed.result.checks.find((c) => c.title === 'process registry')).not.toHaveProperty('advice')
  expect(check(runCliJson<DoctorJson>(['doctor', path]).result, 'process registry').status).toBe('ok')
  // The migration history is untouched: the store is still at schema version 1 with its seeded record.
  expect(runCliJson<{ schemaVersion: number; collections: { name: string; count: number }[] }>(['status', path]).result).toMatchObject({
    schemaVersion: 1,
    collections: [{ name: 'tasks', count: 1 }],
  })
})
