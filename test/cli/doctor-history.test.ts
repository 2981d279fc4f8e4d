import { spawn, spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { expect, onTestFinished, test } from 'vitest'
import { hostTag } from '../../src/fs/durable-file.js'
import { openStore } from '../../src/index.js'
import { backupStore } from '../../src/lifecycle.js'
import { tempDir } from '../helpers/backends.js'
import { runCli, runCliJson } from '../helpers/cli.js'

// Issue 16, item 10: tandem doctor also checks temp files left in the backup folder, gaps or
// duplicates in the change log, consumers behind the retained log, and the store's -wal and -shm
// files as far as they can be seen from outside.

interface Row {
  title: string
  status: 'ok' | 'warn' | 'fail' | 'skip'
  summary: string
  details?: string[]
  fix?: string
  fixed: boolean
  advice?: string
}
interface DoctorJson {
  ok: boolean
  checks: Row[]
}

const COLLECTIONS = { tasks: { writers: ['server'] } }

function row(report: DoctorJson, title: string): Row {
  const found = report.checks.find((c) => c.title === title)
  expect(found, `no check "${title}" in ${report.checks.map((c) => c.title).join(', ')}`).toBeDefined()
  return found!
}

async function storeWith(dir: string, records: number, config: Record<string, unknown> = {}): Promise<string> {
  const path = join(dir, 'app.db')
  const store = await openStore({ path, role: 'server', collections: COLLECTIONS, ...config })
  for (let i = 0; i < records; i++) await store.collection('tasks').insert({ n: i })
  await store.close()
  return path
}

/** The pid of a process that has exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '']).pid!
}

/** A process holding the store open through a plain SQLite connection (as any Tandem process does), until the test ends. */
async function holdOpen(path: string): Promise<number> {
  const script = `
    import Database from 'better-sqlite3'
    const db = new Database(${JSON.stringify(path)})
    db.pragma('journal_mode = WAL')
    db.prepare('SELECT count(*) FROM sqlite_schema').get()
    console.log('ready')
    setInterval(() => {}, 1000)
  `
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: join(import.meta.dirname, '../..'),
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const closed = new Promise((resolve) => child.once('close', resolve))
  onTestFinished(async () => {
    child.kill('SIGKILL')
    await closed
  })
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve())
    child.once('exit', (code) => reject(new Error(`the holder exited early (code ${code})`)))
  })
  return child.pid!
}

test('doctor finds the temp file a killed scheduled backup left in the backup folder, and --fix removes only it', async () => {
  const dir = tempDir()
  const path = await storeWith(dir, 5)
  const backups = join(dir, 'backups')
  mkdirSync(backups)
  const pid = deadPid()
  const orphan = `.app-20250131T120000123Z.db.${pid}-0a1b2c3d.${hostTag()}.tmp`
  // The same dead pid, on another host sharing the folder: its backup may be in progress there.
  const otherHost = `.app-20250131T120000789Z.db.${pid}-0e0f0a0b.${hostTag()}-elsewhere.tmp`
  writeFileSync(join(backups, otherHost), 'a backup in progress on another host')
  writeFileSync(join(backups, orphan), 'half a backup')
  writeFileSync(join(backups, `.app-20250131T120000456Z.db.${process.pid}-01020304.${hostTag()}.tmp`), 'a backup in progress')
  writeFileSync(join(backups, 'app-20250131T110000000Z.db'), 'a finished backup')
  // The config names the folder (relative to the config file), as openStore's backup option does.
  writeFileSync(
    join(dir, 'tandem.config.json'),
    JSON.stringify({ path: 'app.db', collections: COLLECTIONS, backup: { dir: 'backups', everyMs: 3_600_000, keep: 24 } }),
  )

  const before = runCliJson<DoctorJson>(['doctor'], { cwd: dir })
  expect(before.status).toBe(1)
  expect(row(before.result, 'backup folder')).toMatchObject({
    status: 'warn',
    fix: 'remove it',
    fixed: false,
    details: [expect.stringContaining(`${orphan}: temp file of pid ${pid}, which is not running`)],
  })
  expect(existsSync(join(backups, orphan))).toBe(true)

  // --backup-dir names it without a config.
  const named = runCliJson<DoctorJson>(['doctor', path, '--backup-dir', backups, '--fix'])
  expect(named.status).toBe(0)
  expect(row(named.result, 'backup folder')).toMatchObject({ fixed: true, fix: 'removed 1 file' })
  expect(existsSync(join(backups, orphan))).toBe(false)
  expect(existsSync(join(backups, `.app-20250131T120000456Z.db.${process.pid}-01020304.${hostTag()}.tmp`))).toBe(true)
  expect(existsSync(join(backups, 'app-20250131T110000000Z.db'))).toBe(true)
  expect(existsSync(join(backups, otherHost))).toBe(true)

  const human = runCli(['doctor', path, '--backup-dir', backups])
  expect(human.stdout).toMatch(/ok\s+backup folder\s+no temp files of dead processes in .*backups/)
})

test('doctor: coalescing gaps are fine; a raw write and an entry deleted by hand are writes outside Tandem; a seq listed twice fails the log', async () => {
  const dir = tempDir()
  const path = await storeWith(dir, 20)
  // Patches coalesce the log: the patched tasks' inserts are gone from it, their patches are there.
  const store = await openStore({ path, role: 'server', collections: COLLECTIONS })
  const tasks = await store.collection('tasks').find({ limit: 5 })
  for (const t of tasks) await store.collection('tasks').patch(t.id, { n: -1 })
  await store.close()
  const clean = runCliJson<DoctorJson>(['doctor', path]).result
  expect(row(clean, 'change log')).toMatchObject({ status: 'ok', summary: '20 changes up to seq 25' })
  expect(row(clean, 'writes outside Tandem')).toMatchObject({ status: 'ok' })

  const db = new Database(path)
  const [a, b] = db.prepare('SELECT id FROM c_tasks ORDER BY id LIMIT 2').all() as { id: string }[]
  // A raw write that bypasses the protocol, and an entry deleted by hand.
  db.prepare(`UPDATE c_tasks SET version = version + 1, data = json_set(data, '$.n', 99) WHERE id = ?`).run(a!.id)
  db.prepare('DELETE FROM _tandem_changes WHERE id = ?').run(b!.id)
  db.close()
  const bypassed = runCliJson<DoctorJson>(['doctor', path])
  expect(bypassed.status).toBe(1)
  expect(row(bypassed.result, 'change log').status).toBe('ok')
  expect(row(bypassed.result, 'writes outside Tandem')).toMatchObject({
    status: 'fail',
    summary: expect.stringMatching(/^2 records changed without a change-log entry/),
    details: expect.arrayContaining([expect.stringContaining(`tasks/${a!.id} is at version 3`), expect.stringContaining(`tasks/${b!.id}`)]),
  })

  // A log listing one seq twice (only a damaged table can): rebuilt here without its primary key.
  const copy = join(dir, 'twice.db')
  copyFileSync(path, copy)
  const twice = new Database(copy)
  twice.exec(`ALTER TABLE _tandem_changes RENAME TO old_changes;
    CREATE TABLE _tandem_changes (seq INTEGER, collection TEXT NOT NULL, id TEXT NOT NULL, op TEXT NOT NULL, version INTEGER NOT NULL, role TEXT NOT NULL, at INTEGER NOT NULL, data TEXT, delta TEXT);
    INSERT INTO _tandem_changes SELECT * FROM old_changes;
    INSERT INTO _tandem_changes SELECT * FROM old_changes WHERE seq = 15;
    DROP TABLE old_changes;`)
  twice.close()
  const dup = runCliJson<DoctorJson>(['doctor', copy])
  expect(row(dup.result, 'change log')).toMatchObject({ status: 'fail', details: ['seq 15 listed twice'] })
})

test('doctor reports a durable consumer whose position retention trimmed past', async () => {
  const dir = tempDir()
  const path = join(dir, 'app.db')
  const store = await openStore({ path, role: 'server', collections: COLLECTIONS, changes: { maxCount: 10 } })
  const mailer = store.consumer('mailer')
  await mailer.changes()
  await mailer.close()
  for (let i = 0; i < 40; i++) await store.collection('tasks').insert({ n: i })
  await store.trimChanges()
  await store.close()
  const { status, result } = runCliJson<DoctorJson>(['doctor', path])
  expect(status).toBe(1)
  expect(row(result, 'consumers')).toMatchObject({
    status: 'fail',
    details: [expect.stringMatching(/"mailer" is at seq \d+; changes through seq \d+ are gone/)],
  })
  // Trimmed on purpose, by retention: not a gap.
  expect(row(result, 'change log').status).toBe('ok')
})

test('doctor sees a -shm deleted under a process that has the store open, and does not open the store itself', async () => {
  const dir = tempDir()
  const path = await storeWith(dir, 5)
  const pid = await holdOpen(path)
  unlinkSync(`${path}-shm`)
  const { status, result } = runCliJson<DoctorJson>(['doctor', path, '--fix'])
  expect(status).toBe(1)
  expect(row(result, 'side files')).toMatchObject({
    status: 'fail',
    details: [expect.stringMatching(new RegExp(`pid ${pid} .*app\\.db-shm, which was deleted`))],
  })
  expect(row(result, 'side files').advice).toMatch(/Stop every process/)
  expect(row(result, 'store file')).toMatchObject({ status: 'fail', summary: expect.stringMatching(/not opened/) })
  expect(row(result, 'integrity').status).toBe('skip')
  // Opening it would have made a new -shm that the holder does not share.
  expect(existsSync(`${path}-shm`)).toBe(false)
})

test('doctor sees a -wal deleted under a process that has the store open', async () => {
  const dir = tempDir()
  const path = await storeWith(dir, 5)
  const pid = await holdOpen(path)
  unlinkSync(`${path}-wal`)
  const { status, result } = runCliJson<DoctorJson>(['doctor', path])
  expect(status).toBe(1)
  expect(row(result, 'side files')).toMatchObject({
    status: 'fail',
    details: [expect.stringMatching(new RegExp(`pid ${pid} .*app\\.db-wal, which was deleted`))],
  })
  expect(existsSync(`${path}-wal`)).toBe(false)
})

test('doctor refuses to open a database in rollback mode with a -wal beside it, which SQLite would replay into it', async () => {
  const dir = tempDir()
  const path = await storeWith(dir, 5)
  const source = await openStore({ path, role: 'server', collections: COLLECTIONS })
  const backup = join(dir, 'restored.db')
  await backupStore(source, backup)
  await source.close()
  // Another store's WAL with commits in it, left beside the file (a store replaced without its -wal).
  const other = join(dir, 'other.db')
  const db = new Database(other)
  db.pragma('journal_mode = WAL')
  db.pragma('wal_autocheckpoint = 0')
  db.exec('CREATE TABLE t (x); INSERT INTO t VALUES (1), (2), (3)')
  copyFileSync(`${other}-wal`, `${backup}-wal`)
  db.close()
  const bytes = readFileSync(backup)

  const { status, result } = runCliJson<DoctorJson>(['doctor', backup])
  expect(status).toBe(1)
  expect(row(result, 'side files')).toMatchObject({
    status: 'fail',
    summary: expect.stringMatching(/restored\.db-wal .* beside a database in rollback-journal mode/),
  })
  expect(row(result, 'store file').summary).toMatch(/not opened/)
  expect(readFileSync(backup).equals(bytes)).toBe(true)
  expect(statSync(`${backup}-wal`).size).toBeGreaterThan(0)
})

test('doctor reports a -wal shorter than its own header', async () => {
  const dir = tempDir()
  const path = await storeWith(dir, 5)
  // The last close removed the -wal; a truncated one appears (a file tool, a full disk).
  writeFileSync(`${path}-wal`, Buffer.alloc(10))
  const { result } = runCliJson<DoctorJson>(['doctor', path])
  expect(row(result, 'side files')).toMatchObject({
    status: 'fail',
    summary: expect.stringMatching(/app\.db-wal is 10 bytes, shorter than a WAL header/),
  })
})

test('doctor on a store in use by a healthy process: side files ok, naming the process', async () => {
  const dir = tempDir()
  const path = await storeWith(dir, 5)
  const pid = await holdOpen(path)
  const { result } = runCliJson<DoctorJson>(['doctor', path])
  expect(row(result, 'side files')).toMatchObject({ status: 'ok', summary: expect.stringContaining(`pid ${pid}`) })
})
