import { rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { openStore } from '../../src/index.js'
import { CommitSignal, FALLBACK_CHECK_MS, QUIET_FALLBACK_CHECK_MS, watchWal } from '../../src/backends/sqlite/sqlite-wake.js'
import { tempDir } from '../helpers/backends.js'

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const collections = { events: { writers: '*' } } as const

test('every commit touches <db>-commits (0600): the signal that wakes other processes once the commit is visible', async () => {
  const path = join(tempDir(), 'store.db')
  const store = await openStore({ path, role: 'w', collections })
  try {
    await store.collection('events').insert({ n: 0 })
    const first = statSync(`${path}-commits`)
    expect(first.mode & 0o777).toBe(0o600)
    expect(first.size).toBe(0) // nothing is ever written in it
    await pause(20)
    await store.collection('events').insert({ n: 1 })
    expect(statSync(`${path}-commits`).mtimeMs).toBeGreaterThan(first.mtimeMs)
  } finally {
    await store.close()
  }
})

test('a touch of the signal file makes the watcher look at data_version, and the signal file may come and go', async () => {
  const dir = tempDir()
  const signal = join(dir, 'store.db-commits')
  let version = 0
  let looks = 0
  const commits: number[] = []
  const stop = watchWal(
    join(dir, 'store.db-wal'),
    () => (looks++, version),
    () => commits.push(version),
    signal,
  )
  try {
    // Created after the watcher started: the 50 ms timer starts watching it once it exists.
    const writer = new CommitSignal(join(dir, 'store.db'))
    writer.committed()
    for (let round = 1; round <= 3; round++) {
      await pause(80)
      version = round
      writer.committed()
      await waitFor(() => commits.length === round)
      if (round === 2) {
        writer.close()
        rmSync(signal) // deleted under the watcher: a later signal re-creates it and is watched again
      }
    }
    expect(commits).toEqual([1, 2, 3])
    expect(looks).toBeGreaterThan(3)
  } finally {
    stop()
  }
})

test('after a quiet second the fallback looks less often, and still finds a commit no file event announced', async () => {
  const dir = tempDir()
  let version = 0
  let looks = 0
  const commits: number[] = []
  const stop = watchWal(
    join(dir, 'store.db-wal'),
    () => (looks++, version),
    () => commits.push(version),
    join(dir, 'store.db-commits'),
  )
  try {
    await pause(1200) // No file event at all: the fallback relaxes after a second.
    const before = looks
    await pause(1000)
    // 200 ms apart now: about 5 looks in that second, where 50 ms would make 20. Timers only ever
    // fire late, so a loaded machine makes fewer looks, never more.
    expect(looks - before).toBeLessThanOrEqual(1000 / QUIET_FALLBACK_CHECK_MS + 2)
    expect(1000 / FALLBACK_CHECK_MS).toBeGreaterThan(1000 / QUIET_FALLBACK_CHECK_MS + 2) // the bound tells them apart
    version = 1 // A commit whose file events were all missed (nothing is touched): the timer finds it.
    await waitFor(() => commits.length === 1)
    expect(commits).toEqual([1])
  } finally {
    stop()
  }
})

async function waitFor(done: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !done(); i++) await pause(10)
  expect(done()).toBe(true)
}
