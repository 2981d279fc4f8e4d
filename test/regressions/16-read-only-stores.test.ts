import { execFileSync } from 'node:child_process'
import { chmodSync, chownSync, closeSync, mkdirSync, openSync, readdirSync, statSync, unlinkSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { expect, onTestFinished, test } from 'vitest'
import { openStore, TandemError } from '../../src/index.js'
import { tempDir } from '../helpers/backends.js'
import { LAST_RESORT_TIMEOUT_MS, forkWorker, type WorkerMessage } from '../helpers/processes.js'

// Issue 16, item 5: a read-only store file or file system got raw SQLITE_READONLY and left an
// unwritable -shm behind; a process could not even open a store while another held its write
// lock (readers waited 30 s for BUSY_TIMEOUT, and the error did not name the holder). A read-only
// open must do no write at all, so it works on a read-only file, a read-only file system and a
// full disk, and never waits for a writer.

const NOTES = 3
const isRoot = process.getuid?.() === 0
/** The user a reader runs as when the tests run as root (root ignores file modes). */
const NOBODY = 65534

/** A store with NOTES records in `dir`, closed again: no process has it open. */
async function createStore(dir: string): Promise<string> {
  const path = join(dir, 'store.db')
  const store = await openStore({ path, role: 'daemon', collections: { notes: { writers: ['daemon'] } } })
  for (let i = 0; i < NOTES; i++) await store.collection('notes').insert({ text: `note ${i}` })
  await store.close()
  return path
}

/** Runs read-only-reader.mjs once and returns its report. */
async function readInWorker(args: Record<string, unknown>): Promise<WorkerMessage> {
  const reader = forkWorker('read-only-reader.mjs', args)
  await reader.waitFor('ready')
  reader.send({ type: 'go' })
  return reader.waitFor('result')
}

/** The store's side files and their modes, e.g. { 'store.db-shm': 0o600 }. */
function sideFiles(dir: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const name of readdirSync(dir)) if (name !== 'store.db') out[name] = statSync(join(dir, name)).mode & 0o777
  return out
}

test(
  'a read-only open reads while another process holds the write lock and is stopped; a read-write open names the holder when it gives up',
  async () => {
    const path = await createStore(tempDir())
    const holder = forkWorker('lock-holder.mjs', { path })
    await holder.waitFor('ready')
    holder.send({ type: 'hold' })
    await holder.waitFor('holding')
    holder.kill('SIGSTOP')
    onTestFinished(() => holder.kill('SIGCONT'))

    const read = await readInWorker({ path })
    expect(read, 'a read-only open must not wait for the write lock').toMatchObject({ opened: true, count: NOTES })
    expect(read.openMs as number).toBeLessThan(5000)
    expect(read.write, 'writes through a read-only store are refused').toMatchObject({ code: 'READ_ONLY' })
    expect(read.processes).toEqual([{ pid: holder.pid, role: 'daemon' }])

    // A read-write open must wait for the lock; when it gives up it says who holds it.
    const error = await openStore({ path, role: 'cli', collections: {}, busyTimeoutMs: 500 }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(TandemError)
    expect(error).toMatchObject({ code: 'BUSY_TIMEOUT' })
    expect((error as Error).message).toContain(`pid ${holder.pid}`)
    expect((error as Error).message).toContain('"daemon"')
    expect((error as Error).message).toContain('stopped')
    console.log(`read-write open: ${(error as Error).message}`)
  },
  LAST_RESORT_TIMEOUT_MS,
)

test(
  'a read-only store file: a read-only open reads and leaves no unwritable side file; a read-write open fails with READ_ONLY, not a raw SQLite error',
  async () => {
    const dir = join(tempDir(), 'data')
    mkdirSync(dir, { mode: 0o700 })
    const path = await createStore(dir)
    const uid = isRoot ? NOBODY : undefined
    if (uid !== undefined) {
      chmodSync(join(dir, '..'), 0o711)
      chownSync(dir, uid, uid)
      chownSync(path, uid, uid)
    }
    chmodSync(path, 0o400)

    const read = await readInWorker({ path, uid })
    expect(read, JSON.stringify(read)).toMatchObject({ opened: true, count: NOTES, write: { code: 'READ_ONLY' } })
    for (const [name, mode] of Object.entries(sideFiles(dir)))
      expect(mode & 0o200, `${name} left with mode ${mode.toString(8)}`).not.toBe(0)

    const write = await readInWorker({ path, uid, readWrite: true })
    expect(write, JSON.stringify(write)).toMatchObject({ opened: false, error: { code: 'READ_ONLY' } })
    expect((write.error as { message: string }).message).toContain('readOnly')
    for (const [name, mode] of Object.entries(sideFiles(dir)))
      expect(mode & 0o200, `${name} left with mode ${mode.toString(8)}`).not.toBe(0)
  },
  LAST_RESORT_TIMEOUT_MS,
)

/** A small tmpfs mounted for this test (root only), unmounted when it ends. */
function mountTmpfs(sizeBytes: number): string {
  const dir = join(tempDir(), 'mnt')
  mkdirSync(dir)
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0700`, 'tandem-test', dir])
  onTestFinished(() => {
    execFileSync('umount', ['-l', dir])
  })
  return dir
}

/** Writes zeros into a file until the file system is full. */
function fillDisk(dir: string): void {
  const fd = openSync(join(dir, 'filler'), 'w')
  const block = Buffer.alloc(64 * 1024)
  try {
    for (;;) writeSync(fd, block)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error
  } finally {
    closeSync(fd)
  }
}

test.skipIf(!isRoot)(
  'a read-only open works on a full disk and on a read-only file system (mounts a tmpfs: root only)',
  async () => {
    const dir = mountTmpfs(4 * 1024 * 1024)
    const path = await createStore(dir)
    fillDisk(dir)
    const full = await readInWorker({ path })
    console.log(`full disk: opened ${String(full.location)}`)
    expect(full, JSON.stringify(full)).toMatchObject({ opened: true, count: NOTES, write: { code: 'READ_ONLY' } })

    // Without -wal and -shm files (the store was closed cleanly), SQLite cannot open a store in a
    // read-only directory at all: it must create them. (The full-disk reader made empty ones.)
    for (const side of [`${path}-wal`, `${path}-shm`]) {
      const stat = statSync(side, { throwIfNoEntry: false })
      if (stat !== undefined && side.endsWith('-wal')) expect(stat.size, 'a read-only open left a -wal with data').toBe(0)
      if (stat !== undefined) unlinkSync(side)
    }
    execFileSync('mount', ['-o', 'remount,ro', dir])
    const readOnly = await readInWorker({ path })
    console.log(`read-only file system: opened ${String(readOnly.location)}`)
    expect(readOnly, JSON.stringify(readOnly)).toMatchObject({ opened: true, count: NOTES, write: { code: 'READ_ONLY' } })
    const write = await readInWorker({ path, readWrite: true })
    expect(write, JSON.stringify(write)).toMatchObject({ opened: false, error: { code: 'READ_ONLY' } })
    console.log(`read-write open on a read-only file system: ${(write.error as { message: string }).message}`)
  },
  LAST_RESORT_TIMEOUT_MS,
)
