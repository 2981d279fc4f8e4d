import { spawnSync } from 'node:child_process'
import { readdirSync, utimesSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { expect, test } from 'vitest'
import { findOrphanTemps } from '../../src/backup/temp-files.js'
import { findOrphanFiles } from '../../src/cli/store-files.js'
import { createTempBeside, hostTag, parseTempName } from '../../src/fs/durable-file.js'
import { openStore } from '../../src/index.js'
import { scheduleBackups } from '../../src/lifecycle.js'
import { tempDir } from '../helpers/backends.js'
import { sleep } from '../helpers/processes.js'

// Review of issue 16, item 10: orphan temp files were removed when the pid in their name was not
// running on THIS host, so in a backup folder two hosts share, host A deleted host B's backup in
// progress. A temp name now carries its writer's host, and only this host's temps are judged.

/** A pid that ran and exited: certainly not running here now. */
const deadPid = () => spawnSync(process.execPath, ['-e', '']).pid!

test('createTempBeside puts this host in the name, and parseTempName reads it back', () => {
  const dir = tempDir()
  const temp = createTempBeside(join(dir, 'app-1.db'))
  expect(parseTempName(basename(temp))).toEqual({ finalName: 'app-1.db', pid: process.pid, host: hostTag() })
  expect(hostTag('db-1.example.com')).toBe('db-1_example_com')
  expect(parseTempName('.app-1.db.123-0a0b0c0d.tmp')).toEqual({ finalName: 'app-1.db', pid: 123, host: undefined })
  expect(parseTempName('scratch.tmp')).toBeUndefined()
})

test("a scheduled backup and doctor leave another host's temp files alone, whatever its pid", async () => {
  const root = tempDir()
  const dir = join(root, 'backups')
  const path = join(root, 'app.db')
  const store = await openStore({ path, role: 'daemon', collections: { blobs: { writers: ['daemon'] } } })
  const dead = deadPid()
  const otherHost = `.app-20250101T000000000Z.db.${dead}-0a0b0c0d.${hostTag()}-elsewhere.tmp`
  const ours = `.app-20250101T000000000Z.db.${dead}-01020304.${hostTag()}.tmp`
  const untaggedFresh = `.app-20250101T000000000Z.db.${dead}-05060708.tmp`
  const untaggedOld = `.app-20250101T000000000Z.db.${dead}-090a0b0c.tmp`
  try {
    const results: unknown[] = []
    // The folder exists once scheduleBackups has made it; the files are put there before the first backup.
    const stop = scheduleBackups(store, {
      everyMs: 200,
      keep: 2,
      dir,
      onBackup: (r) => results.push(r),
      onError: (e) => {
        throw e
      },
    })
    for (const name of [otherHost, ours, untaggedFresh, untaggedOld]) writeFileSync(join(dir, name), 'x')
    const anHourAgo = new Date(Date.now() - 2 * 60 * 60 * 1000)
    utimesSync(join(dir, untaggedOld), anHourAgo, anHourAgo)
    expect(
      findOrphanTemps(dir)
        .map((t) => basename(t.path))
        .sort(),
    ).toEqual([ours, untaggedOld].sort())
    expect(
      findOrphanFiles(dir, join(dir, 'none.db'))
        .map((f) => basename(f.path))
        .sort(),
    ).toEqual([ours, untaggedOld].sort())
    while (results.length < 1) await sleep(20)
    await stop()
    const names = readdirSync(dir)
    expect(names).toContain(otherHost)
    expect(names).toContain(untaggedFresh)
    expect(names).not.toContain(ours)
    expect(names).not.toContain(untaggedOld)
  } finally {
    await store.close()
  }
}, 60_000)
