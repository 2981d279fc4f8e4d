import { rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { openStore } from '../../src/index.js'
import { tempDir } from '../helpers/backends.js'
import { forkWorker, sleep } from '../helpers/processes.js'

// Issue #16 item 9 refuses an empty store file (a truncated store). SQLite itself creates a new
// database as an empty file and writes its header later, so a creator killed in between used to
// leave an empty file that every later opener refused (the torture run found the crash loop).
// A new store is now created under a temp name and linked into place: an interrupted creation
// leaves no store file, or a whole one.
test('a creator SIGKILLed at any moment of creating a store never leaves a file the next opener refuses', async () => {
  const dir = tempDir()
  const path = join(dir, 'store.db')
  const collections = { jobs: { writers: ['daemon'] } } as const
  // How long a creator takes from fork to ready, here and now: kills are spread around it.
  const started = performance.now()
  const probe = forkWorker('store-holder.mjs', { config: { path: join(dir, 'probe.db'), role: 'daemon', collections } })
  await probe.waitFor('ready')
  const readyMs = performance.now() - started
  probe.kill('SIGKILL')
  let sizes = { missing: 0, whole: 0 }
  for (let round = 0; round < 25; round++) {
    rmSync(path, { force: true })
    for (const side of ['-wal', '-shm']) rmSync(path + side, { force: true })
    const creator = forkWorker('store-holder.mjs', { config: { path, role: 'daemon', collections } })
    // Kill it somewhere in the last part of its way to ready: loading, creating, preparing.
    await sleep(readyMs * (0.5 + Math.random() * 0.6))
    creator.kill('SIGKILL')
    await creator.exited
    const size = statSync(path, { throwIfNoEntry: false })?.size
    expect(size, `round ${round}: the store file is empty`).not.toBe(0)
    sizes = size === undefined ? { ...sizes, missing: sizes.missing + 1 } : { ...sizes, whole: sizes.whole + 1 }
    const store = await openStore({ path, role: 'daemon', collections })
    await store.collection('jobs').insert({ round })
    await store.close()
  }
  console.log(
    `interrupted creation (ready after ${readyMs.toFixed(0)} ms): ${sizes.missing} rounds left no file, ${sizes.whole} a whole one; every next open worked`,
  )
})
