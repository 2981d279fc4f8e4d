import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { expect, test } from 'vitest'
import { openStore } from '../../src/index.js'
import { scheduleBackups, type BackupResult } from '../../src/lifecycle.js'
import { tempDir } from '../helpers/backends.js'
import { sleep } from '../helpers/processes.js'

// Issue 16, item 10: a SIGKILL during a scheduled backup left its temp file
// (backups/.app-<time>.db.<pid>-<rand>.tmp) in the backup folder for ever: rotation only deletes
// the schedule's finished backups. A schedule now removes such orphans of dead processes when it
// starts (and before each backup), and leaves everything else alone.

const DIST = pathToFileURL(join(import.meta.dirname, '../../dist/index.js')).href
const DIST_LIFECYCLE = pathToFileURL(join(import.meta.dirname, '../../dist/lifecycle.js')).href

/** A daemon process with scheduled backups of a ~40 MB store, SIGKILLed while a backup is being written. */
async function killMidBackup(path: string, dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true })
  const script = `
    import { openStore } from ${JSON.stringify(DIST)}
    import { scheduleBackups } from ${JSON.stringify(DIST_LIFECYCLE)}
    const store = await openStore({ path: ${JSON.stringify(path)}, role: 'daemon', collections: { blobs: { writers: ['daemon'] } } })
    for (let i = 0; i < 40; i++) await store.collection('blobs').insertMany(Array.from({ length: 500 }, () => ({ text: 'x'.repeat(2000) })))
    console.log('ready')
    scheduleBackups(store, { everyMs: 100, keep: 2, dir: ${JSON.stringify(dir)} })
    setInterval(() => {}, 1000)
  `
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  const closed = new Promise((resolve) => child.once('close', resolve))
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve())
      child.once('exit', (code) => reject(new Error(`the daemon exited early (code ${code})`)))
    })
    for (const started = Date.now(); Date.now() - started < 60_000; await sleep(2)) {
      const temp = readdirSync(dir).find((name) => name.endsWith('.tmp'))
      if (temp !== undefined) {
        child.kill('SIGKILL')
        await closed
        return temp
      }
    }
    throw new Error('no backup was started within 60 s')
  } finally {
    child.kill('SIGKILL')
    await closed
  }
}

test('a scheduled backup removes the temp file a SIGKILLed backup left, and nothing else', async () => {
  const root = tempDir()
  const path = join(root, 'app.db')
  const dir = join(root, 'backups')
  const orphan = await killMidBackup(path, dir)
  expect(orphan).toMatch(/^\.app-\d{8}T\d{9}Z\.db\.\d+-[0-9a-f]{8}\.[A-Za-z0-9_-]+\.tmp$/)

  // Files the schedule must leave alone: a temp of a live process (this one), another schedule's
  // temp of a live process, a temp without a pid, and ordinary files.
  const dead = spawnSync(process.execPath, ['-e', '']).pid!
  const kept = [
    `.app-20250101T000000000Z.db.${process.pid}-0a0b0c0d.tmp`,
    'notes.txt',
    'scratch.tmp',
    `.other-20250101T000000000Z.db.${process.pid}-01020304.tmp`,
  ]
  for (const name of kept) writeFileSync(join(dir, name), 'x')
  // A dead process's temp of a backup with another prefix: some other schedule's, not ours.
  writeFileSync(join(dir, `.other-20250101T000000000Z.db.${dead}-0f0f0f0f.tmp`), 'x')

  // The daemon restarts and schedules its backups again.
  const store = await openStore({ path, role: 'daemon', collections: { blobs: { writers: ['daemon'] } } })
  try {
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
    // Removed when the schedule starts, before any backup.
    expect(readdirSync(dir)).not.toContain(orphan)
    while (results.length < 1) await sleep(20)
    await stop()
    const names = readdirSync(dir).sort()
    expect(names.filter((n) => n.endsWith('.tmp') && !kept.includes(n))).toEqual([`.other-20250101T000000000Z.db.${dead}-0f0f0f0f.tmp`])
    for (const name of kept) expect(names).toContain(name)
  } finally {
    await store.close()
  }
}, 180_000)
