import Database from 'better-sqlite3'
import { copyFileSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, onTestFinished, test } from 'vitest'
import { openStore, type StoreConfig } from '../../src/index.js'
import { backupStore, restoreStore } from '../../src/lifecycle.js'
import { tempDir } from '../helpers/backends.js'
import { expectCleanExit, forkWorker, type WorkerHandle } from '../helpers/processes.js'
import { exportText } from '../helpers/transfer.js'

const collections = { tasks: { writers: '*' } } as const

/** A store with 200 tasks, a backup of it, then 30 more tasks the backup does not have; closed. */
async function storeAndBackup() {
  const dataDir = tempDir()
  const config = (role: string): StoreConfig<typeof collections> => ({ dataDir, path: 'app.db', role, collections })
  const store = await openStore(config('app'))
  await store.collection('tasks').insertMany(Array.from({ length: 200 }, (_, i) => ({ i, text: `task number ${i}` })))
  const backupText = await exportText(store)
  const backup = (await backupStore(store, join(tempDir(), 'backup.db'))).path
  await store.collection('tasks').insertMany(Array.from({ length: 30 }, (_, i) => ({ late: i })))
  await store.close()
  return { dataDir, config, file: join(dataDir, 'app.db'), backup, backupText }
}

/** Every record of the store, opened (and closed again) from this process. */
async function readStore(config: (role: string) => StoreConfig<typeof collections>): Promise<string[]> {
  const store = await openStore(config('reader'))
  try {
    return await exportText(store)
  } finally {
    await store.close()
  }
}

function integrity(file: string): unknown {
  const db = new Database(file, { readonly: true })
  try {
    return db.pragma('integrity_check', { simple: true })
  } finally {
    db.close()
  }
}

let tags = 0
/** The tasks the holder process counts through its own, still open, connections. */
async function countIn(holder: WorkerHandle): Promise<number> {
  const tag = `count-${++tags}`
  holder.send({ type: 'exec', collection: 'tasks', tag })
  return (await holder.waitFor((m) => m.tag === tag)).count as number
}

describe('restoreStore', () => {
  test('replaces a store nobody has open with the backup; the restored store opens with the backup’s data', async () => {
    const { dataDir, config, file, backup, backupText } = await storeAndBackup()
    expect((await readStore(config)).length).toBe(backupText.length + 30)
    const result = await restoreStore({ from: backup, dataDir, path: 'app.db' })
    expect(result).toMatchObject({ path: file, integrity: 'ok', method: 'replaced', bytes: statSync(file).size })
    // No temp file, no stale -wal/-shm (the commit-signal side file of the store that was there may stay: it holds nothing).
    expect(readdirSync(dataDir).filter((f) => !f.endsWith('-commits'))).toEqual(['app.db'])
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(integrity(file)).toBe('ok')
    expect(await readStore(config)).toEqual(backupText)
  })

  test('creates the store when there is none', async () => {
    const { backup, backupText } = await storeAndBackup()
    const dataDir = join(tempDir(), 'fresh')
    const result = await restoreStore({ from: backup, dataDir, path: 'new.db' })
    expect(result.method).toBe('created')
    expect(await readStore((role) => ({ dataDir, path: 'new.db', role, collections }))).toEqual(backupText)
  })

  test('is refused while another process has the store open, and works once it has exited', async () => {
    const { dataDir, config, file, backup, backupText } = await storeAndBackup()
    const holder = forkWorker('restore-holder.mjs', { store: config('holder') })
    await holder.waitFor('ready')
    const inode = statSync(file).ino

    const error = await restoreStore({ from: backup, dataDir, path: 'app.db' }).catch((e: unknown) => e)
    expect(error).toMatchObject({
      code: 'STORE_IN_USE',
      message: expect.stringMatching(/Other connections have .*app\.db open .*nothing was restored/),
    })
    expect(statSync(file).ino).toBe(inode)
    expect(readdirSync(dataDir).filter((f) => f.endsWith('.tmp'))).toEqual([])
    expect(await countIn(holder)).toBe(230) // the holder's store is as it was
    expect(await readStore(config)).toHaveLength(backupText.length + 30)

    holder.send({ type: 'exec', exit: true })
    await expectCleanExit(holder)
    expect((await restoreStore({ from: backup, dataDir, path: 'app.db' })).method).toBe('replaced')
    expect(await readStore(config)).toEqual(backupText)
  })

  test('a holder killed with SIGKILL does not block a restore: the kernel drops its locks', async () => {
    const { dataDir, config, backup, backupText } = await storeAndBackup()
    const holder = forkWorker('restore-holder.mjs', { store: config('holder') })
    await holder.waitFor('ready')
    holder.kill('SIGKILL')
    await holder.exited
    expect((await restoreStore({ from: backup, dataDir, path: 'app.db' })).method).toBe('replaced')
    expect(await readStore(config)).toEqual(backupText)
  })

  test('with force, restores under a process that has the store open, which sees the backup at once', async () => {
    const { dataDir, config, file, backup, backupText } = await storeAndBackup()
    const holder = forkWorker('restore-holder.mjs', { store: config('holder') })
    await holder.waitFor('ready')
    expect(await countIn(holder)).toBe(230)

    const result = await restoreStore({ from: backup, dataDir, path: 'app.db', force: true })
    expect(result).toMatchObject({ method: 'in-place', integrity: 'ok' })
    // Written through SQLite, as one transaction: the holder's open connections see it like any commit.
    expect(await countIn(holder)).toBe(200)
    expect(await readStore(config)).toEqual(backupText)

    // The holder closes normally afterwards, and the store stays sound and restored.
    holder.send({ type: 'exec', exit: true })
    await expectCleanExit(holder)
    expect(integrity(file)).toBe('ok')
    expect(await readStore(config)).toEqual(backupText)
  })

  test('a corrupt or foreign source is refused before the target is touched', async () => {
    const { dataDir, config, file, backup } = await storeAndBackup()
    const before = { text: await readStore(config), stat: statSync(file) }
    const dir = tempDir()

    const corrupt = join(dir, 'corrupt.db')
    copyFileSync(backup, corrupt)
    const bytes = readFileSync(corrupt)
    bytes.fill(0xa5, 4096 * 2, bytes.length - 4096) // every page but the first and the last
    writeFileSync(corrupt, bytes)
    const notSqlite = join(dir, 'notes.txt')
    writeFileSync(notSqlite, 'just some text, not a database\n'.repeat(200))
    const foreign = join(dir, 'foreign.db')
    const db = new Database(foreign)
    db.exec('CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO things (name) VALUES (1)')
    db.close()

    const cases: [string, RegExp][] = [
      [corrupt, /(is damaged|fails integrity_check).*nothing was restored/],
      [notSqlite, /is not an SQLite database.*nothing was restored/],
      [foreign, /is not a Tandem store.*nothing was restored/],
      [join(dir, 'missing.db'), /does not exist or is not a file; nothing was restored/],
    ]
    for (const [from, message] of cases) {
      const error = await restoreStore({ from, dataDir, path: 'app.db', force: true }).catch((e: unknown) => e)
      expect(error, from).toMatchObject({ code: 'INVALID_BACKUP', message: expect.stringMatching(message) })
    }
    await expect(restoreStore({ from: file, dataDir, path: 'app.db' })).rejects.toMatchObject({ code: 'UNSAFE_PATH' })

    // Not a byte of the target changed: same inode, size and time, and the same records.
    const after = statSync(file)
    expect([after.ino, after.size, after.mtimeMs]).toEqual([before.stat.ino, before.stat.size, before.stat.mtimeMs])
    expect(readdirSync(dataDir).filter((f) => !f.endsWith('-commits'))).toEqual(['app.db'])
    expect(await readStore(config)).toEqual(before.text)
  })

  test('checks its options', async () => {
    await expect(restoreStore({ from: '' } as never)).rejects.toThrow(/from must be the path of a backup file/)
    await expect(restoreStore({ from: 'x.db', path: 'y.db', focre: true } as never)).rejects.toThrow(/Unknown option "focre"/)
    await expect(restoreStore({ from: 'x.db', path: 'y.db', force: 'yes' } as never)).rejects.toThrow(/force must be true or false/)
  })
})

test('the restored store accepts writes from several processes as usual', async () => {
  const { dataDir, config, backup } = await storeAndBackup()
  await restoreStore({ from: backup, dataDir, path: 'app.db' })
  const a = await openStore(config('a'))
  const b = await openStore(config('b'))
  onTestFinished(async () => {
    await a.close()
    await b.close()
  })
  await Promise.all([a.collection('tasks').insert({ by: 'a' }), b.collection('tasks').insert({ by: 'b' })])
  expect(await a.collection('tasks').count()).toBe(202)
})
