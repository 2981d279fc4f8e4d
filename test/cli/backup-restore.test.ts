import { closeSync, openSync, readdirSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { openStore } from '../../src/index.js'
import { tempDir } from '../helpers/backends.js'
import { runCli, runCliJson } from '../helpers/cli.js'
import { forkWorker } from '../helpers/processes.js'

const COLLECTIONS = { tasks: { writers: ['server'] } }

async function storeWith(path: string, titles: string[]): Promise<string> {
  const store = await openStore({ path, role: 'server', collections: COLLECTIONS })
  for (const title of titles) await store.collection('tasks').insert({ title })
  await store.close()
  return path
}

async function titlesIn(path: string): Promise<string[]> {
  const store = await openStore({ path, role: 'server', collections: COLLECTIONS })
  try {
    return (await store.collection('tasks').find()).map((r) => r.data.title as string).sort()
  } finally {
    await store.close()
  }
}

test('backup --out refuses to replace an existing file unless --force, and leaves no temp file behind', async () => {
  const dir = tempDir()
  const path = await storeWith(join(dir, 'app.db'), ['a'])
  const dest = join(dir, 'app-backup.db')
  writeFileSync(dest, "yesterday's backup")

  const refused = runCli(['backup', path, '--out', dest])
  expect(refused.status).toBe(2)
  expect(refused.stderr).toBe(
    `error OUT_EXISTS: ${dest} already exists; the backup would replace it.\ntry: Choose a new file name (e.g. with the date in it), or pass --force to replace it.\n`,
  )
  expect(readFileSync(dest, 'utf8')).toBe("yesterday's backup")
  expect(runCliJson(['backup', path, '--out', dest]).result).toMatchObject({ error: { code: 'OUT_EXISTS' } })

  const forced = runCliJson<{ path: string; integrity: string }>(['backup', path, '--out', dest, '--force'])
  expect(forced).toMatchObject({ status: 0, result: { path: dest, integrity: 'ok' } })
  expect(await titlesIn(dest)).toEqual(['a'])

  const fresh = join(dir, 'new', 'app-2.db')
  expect(runCliJson(['backup', path, '--out', fresh])).toMatchObject({ status: 0, result: { path: fresh, integrity: 'ok' } })
  expect(readdirSync(join(dir, 'new'))).toEqual(['app-2.db'])
  expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([])
  expect(await titlesIn(fresh)).toEqual(['a'])
})

test('restore keeps a verified copy of the store it replaces, beside it, and says where', async () => {
  const dir = tempDir()
  const path = await storeWith(join(dir, 'app.db'), ['old'])
  const backup = join(dir, 'backup.db')
  expect(runCli(['backup', path, '--out', backup]).status).toBe(0)
  await storeWith(path, ['written after the backup'])

  const restored = runCliJson<{ method: string; previous: { path: string; bytes: number; method: string } | null }>([
    'restore',
    backup,
    path,
  ])
  expect(restored.status).toBe(0)
  expect(restored.result).toMatchObject({
    method: 'replaced',
    previous: { path: expect.stringMatching(/app\.before-restore-\d{8}T\d{9}Z\.db$/), method: 'backup' },
  })
  const previous = restored.result.previous!.path
  expect(statSync(previous).size).toBe(restored.result.previous!.bytes)
  expect(previous.startsWith(dir)).toBe(true)
  // The store holds the backup; the copy holds what the restore replaced.
  expect(await titlesIn(path)).toEqual(['old'])
  expect(await titlesIn(previous)).toEqual(['old', 'written after the backup'])

  const human = runCli(['restore', backup, path])
  expect(human.status, human.stderr).toBe(0)
  expect(human.stdout).toMatch(
    /\nThe store it replaced is kept at \S+app\.before-restore-\d{8}T\d{9}Z\.db \(a verified backup, [\d.]+ KiB\)\.\n$/,
  )

  // Nothing to keep when there is no store yet; no copy left behind when the restore is refused.
  const created = runCliJson<{ method: string; previous: unknown }>(['restore', backup, join(dir, 'fresh', 'new.db')])
  expect(created.result).toMatchObject({ method: 'created', previous: null })
  const before = readdirSync(dir).sort()
  const holder = forkWorker('store-holder.mjs', { config: { path, role: 'server', collections: COLLECTIONS } })
  await holder.waitFor('ready')
  expect(runCliJson(['restore', backup, path]).result).toMatchObject({ error: { code: 'STORE_IN_USE' } })
  holder.send({ type: 'cmd', action: 'stop' })
  await holder.waitFor('closed')
  expect(readdirSync(dir).sort()).toEqual(before)
})

test('restore over a damaged store keeps its files as they were, since no verified backup of it can be made', async () => {
  const dir = tempDir()
  const path = await storeWith(
    join(dir, 'app.db'),
    Array.from({ length: 400 }, (_, i) => `task ${i} ${'x'.repeat(200)}`),
  )
  const backup = join(dir, 'backup.db')
  expect(runCli(['backup', path, '--out', backup]).status).toBe(0)
  const size = statSync(path).size
  const fd = openSync(path, 'r+')
  writeSync(fd, Buffer.alloc(8192, 0xa5), 0, 8192, Math.floor(size / 2 / 4096) * 4096)
  closeSync(fd)

  const restored = runCliJson<{ method: string; previous: { path: string; method: string } }>(['restore', backup, path])
  expect(restored.status, restored.stderr).toBe(0)
  expect(restored.result).toMatchObject({ method: 'replaced', previous: { method: 'files' } })
  expect(restored.stderr).toMatch(/could not be backed up .*; copying its files as they are/)
  // The copy is the damaged store (as this command's own look at it left it), for whoever investigates.
  const doctor = runCliJson<{ checks: { title: string; status: string }[] }>(['doctor', restored.result.previous.path])
  expect(doctor.result.checks.find((c) => c.title === 'integrity')?.status).toBe('fail')
  expect(await titlesIn(path)).toHaveLength(400)
})
