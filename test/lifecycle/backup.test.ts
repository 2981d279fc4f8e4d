import Database from 'better-sqlite3'
import { readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, onTestFinished, test } from 'vitest'
import { openStore } from '../../src/index.js'
import { backupStore, exportStore, importJsonFile, importStore, scheduleBackups, type BackupResult } from '../../src/lifecycle.js'
import { POSTGRES, tempDir } from '../helpers/backends.js'
import { sleep, waitUntil } from '../helpers/processes.js'
import { exportText } from '../helpers/transfer.js'

const collections = { tasks: { writers: '*' }, notes: { writers: '*' } } as const

async function fileStore(dataDir = tempDir()) {
  const store = await openStore({ dataDir, path: 'app.db', role: 'app', collections })
  onTestFinished(() => store.close())
  for (let i = 0; i < 50; i++) await store.collection('tasks').insert({ i })
  await store.collection('notes').insert({ text: 'hello' }, { id: 'n1' })
  return { store, dataDir, file: join(dataDir, 'app.db') }
}

describe('backupStore on SQLite', () => {
  test('writes a verified, self-contained copy that opens as the same store', async () => {
    const { store } = await fileStore()
    const dir = tempDir()
    const dest = join(dir, 'nested', 'backup.db')
    const result = await backupStore(store, dest)
    expect(result).toMatchObject({ path: dest, integrity: 'ok', format: 'sqlite', bytes: statSync(dest).size })
    expect(result.durationMs).toBeGreaterThanOrEqual(0)
    expect(statSync(dest).mode & 0o777).toBe(0o600)
    expect(readdirSync(join(dir, 'nested'))).toEqual(['backup.db']) // no temp file, no -wal
    const copy = await openStore({ path: dest, role: 'app', collections })
    onTestFinished(() => copy.close())
    expect(await exportText(copy)).toEqual(await exportText(store))
  })

  test('replaces an existing backup file atomically', async () => {
    const { store } = await fileStore()
    const dest = join(tempDir(), 'backup.db')
    writeFileSync(dest, 'an older backup')
    await backupStore(store, dest)
    const db = new Database(dest, { readonly: true })
    expect((db.prepare('SELECT count(*) AS n FROM "c_tasks"').get() as { n: number }).n).toBe(50)
    db.close()
  })

  test("refuses the store's own files as backup, export or import targets (UNSAFE_PATH)", async () => {
    const { store, file, dataDir } = await fileStore()
    for (const path of [file, `${file}-wal`, `${file}-shm`, join(dataDir, '.', 'app.db')]) {
      await expect(backupStore(store, path)).rejects.toMatchObject({ code: 'UNSAFE_PATH' })
      await expect(exportStore(store, { to: path })).rejects.toMatchObject({ code: 'UNSAFE_PATH' })
      await expect(importStore(store, { from: path, onConflict: 'skip' })).rejects.toMatchObject({ code: 'UNSAFE_PATH' })
      await expect(importJsonFile(store, { file: path, collection: 'notes', onConflict: 'skip' })).rejects.toMatchObject({
        code: 'UNSAFE_PATH',
      })
    }
    expect(await store.collection('tasks').count()).toBe(50)
    // The store's files and its commit-signal side file (see docs/changes.md), nothing written by the attempts.
    expect(readdirSync(dataDir).sort()).toEqual(['app.db', 'app.db-commits', 'app.db-shm', 'app.db-wal'])
  })

  test('says why it cannot back up an in-memory store, and fails with STORE_CLOSED after close', async () => {
    const memory = await openStore({ path: ':memory:', role: 'app', collections })
    await expect(backupStore(memory, join(tempDir(), 'x.db'))).rejects.toMatchObject({
      code: 'UNSUPPORTED',
      message: expect.stringMatching(/needs a store in a file/),
    })
    await memory.close()
    const { store } = await fileStore()
    await store.close()
    const dir = tempDir()
    await expect(backupStore(store, join(dir, 'x.db'))).rejects.toMatchObject({ code: 'STORE_CLOSED' })
    expect(readdirSync(dir)).toEqual([])
  })
})

describe('scheduleBackups', () => {
  test('backs up every everyMs, keeps the newest `keep` files, and stops when asked', async () => {
    const { store } = await fileStore()
    const dir = join(tempDir(), 'backups')
    const results: BackupResult[] = []
    const stop = scheduleBackups(store, {
      everyMs: 100,
      keep: 2,
      dir,
      onBackup: (r) => results.push(r),
      onError: (e) => {
        throw e
      },
    })
    while (results.length < 4) {
      await store.collection('tasks').insert({ during: results.length })
      await sleep(20)
    }
    await stop()
    const count = results.length
    await sleep(250)
    expect(results.length).toBe(count) // nothing after stop

    const files = readdirSync(dir).sort()
    expect(files).toHaveLength(2)
    for (const name of files) expect(name).toMatch(/^app-\d{8}T\d{9}Z\.db$/)
    // The two newest backups, names sorting by time.
    expect(files.map((f) => join(dir, f))).toEqual(results.slice(-2).map((r) => r.path))
    const sorted = results.map((r) => r.path)
    expect([...sorted].sort()).toEqual(sorted)
    for (const name of files) {
      const db = new Database(join(dir, name), { readonly: true })
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok')
      db.close()
    }
  })

  test('leaves files it did not name alone, and stops by itself when the store closes', async () => {
    const { store } = await fileStore()
    const dir = tempDir()
    writeFileSync(join(dir, 'app-manual.db'), 'mine')
    writeFileSync(join(dir, 'other-20200101T000000000Z.db'), 'another schedule')
    const errors: unknown[] = []
    let backups = 0
    const stop = scheduleBackups(store, { everyMs: 100, keep: 1, dir, onBackup: () => backups++, onError: (e) => errors.push(e) })
    while (backups < 2) await sleep(20)
    await store.close()
    await sleep(300)
    const after = backups
    await sleep(200)
    expect(backups).toBe(after)
    expect(errors).toEqual([])
    expect(readdirSync(dir).sort()).toEqual([
      expect.stringMatching(/^app-\d{8}T\d{9}Z\.db$/),
      'app-manual.db',
      'other-20200101T000000000Z.db',
    ])
    await stop()
  })

  test('checks its options', async () => {
    const { store } = await fileStore()
    expect(() => scheduleBackups(store, { everyMs: 10, keep: 1, dir: tempDir() })).toThrow(/everyMs must be an integer of at least 100/)
    expect(() => scheduleBackups(store, { everyMs: 1000, keep: 0, dir: tempDir() })).toThrow(/keep must be a positive integer/)
    expect(() => scheduleBackups(store, { everyMs: 1000, keep: 1, dir: tempDir(), every: 3 } as never)).toThrow(/Unknown option "every"/)
  })
})

describe.skipIf(POSTGRES === undefined)('backup and migration with PostgreSQL', () => {
  test('backupStore on PostgreSQL writes an NDJSON export, and a SQLite store moves to PostgreSQL with export and import', async () => {
    const { store: sqlite } = await fileStore()
    const pg = await (await POSTGRES!.tempStore())({ role: 'app', collections })
    const file = join(tempDir(), 'move.ndjson')
    await exportStore(sqlite, { to: file })
    expect((await importStore(pg, { from: file, onConflict: 'fail' })).records).toBe(51)
    for (const name of ['tasks', 'notes'] as const) expect(await pg.collection(name).find()).toEqual(await sqlite.collection(name).find())

    const backup = await backupStore(pg, join(tempDir(), 'pg-backup.ndjson'))
    expect(backup).toMatchObject({ format: 'ndjson', integrity: 'not-checked' })
    const back = await openStore({ path: ':memory:', role: 'app', collections })
    onTestFinished(() => back.close())
    await importStore(back, { from: backup.path, onConflict: 'fail' })
    expect((await exportText(back)).slice(1)).toEqual((await exportText(sqlite)).slice(1))
  })
})

describe('the openStore backup option', () => {
  test('schedules rotated backups for the process that asked, and stops on close', async () => {
    const root = tempDir()
    const dir = join(root, 'backups')
    let backups = 0
    const store = await openStore({
      dataDir: join(root, 'data'),
      role: 'daemon',
      collections: { jobs: { writers: '*' } },
      backup: { everyMs: 100, keep: 2, dir, onBackup: () => backups++ },
    })
    await store.collection('jobs').insert({ n: 1 })
    // Three backups, so one has been rotated away: counted, not timed (a busy machine is slower).
    await waitUntil(() => backups >= 3, 'three scheduled backups', { progress: () => backups })
    await store.close()
    const files = readdirSync(dir).filter((f) => f.endsWith('.db'))
    expect(files.length).toBe(2)
    await sleep(300)
    expect(readdirSync(dir).filter((f) => f.endsWith('.db'))).toEqual(files)
  })
})
