import { join } from 'node:path'
import { expect, onTestFinished, test } from 'vitest'
import { BusyError, openStore } from '../../src/index.js'
import { tempDir } from '../helpers/backends.js'
import { expectCleanExit, forkWorker, rawExec, type WorkerMessage } from '../helpers/processes.js'

const BUSY_TIMEOUT_MS = 300
// The other process would release the lock by itself only after this long, which is far beyond
// anything load can add to a 300 ms wait; the test releases it as soon as the insert has failed.
// So "gave up while the lock was still held" does not depend on how fast this machine is, and a
// write that ignored busyTimeoutMs would still be caught: it would succeed after HOLD_MS.
const HOLD_MS = 30_000

test('a write that cannot get the lock within busyTimeoutMs fails with BUSY_TIMEOUT, says how long it waited, and writes nothing', async () => {
  const dataDir = tempDir()
  const collections = { sessions: { writers: ['daemon'] } } as const
  const store = await openStore({ dataDir, path: 'store.db', role: 'daemon', collections, busyTimeoutMs: BUSY_TIMEOUT_MS })
  onTestFinished(() => store.close())
  const sessions = store.collection('sessions')

  // Another process takes the write lock and, on its own clock, would keep it for HOLD_MS.
  const holder = forkWorker('raw-sqlite.mjs', { file: join(dataDir, 'store.db') })
  await holder.waitFor('ready')
  const lock = await rawExec(holder, 'BEGIN IMMEDIATE', { releaseAfterMs: HOLD_MS })
  const isReleased = (m: WorkerMessage) => m.type === 'released' && m.tag === lock

  const error = await sessions.insert({ projectId: 'p1' }, { id: 's1' }).then(
    () => undefined,
    (e: unknown) => e,
  )
  // It gave up on its own timeout, while the lock was still held: had it waited for the lock, the
  // insert would have succeeded.
  const gaveUpWhileLocked = !holder.messages.some(isReleased)
  await rawExec(holder, '', { releaseNow: true })
  await holder.waitFor(isReleased)
  console.log(`insert rejected: ${(error as Error | undefined)?.message}`)

  expect(error).toBeInstanceOf(BusyError)
  expect(gaveUpWhileLocked, 'it must give up while the other process still holds the lock').toBe(true)
  const busy = error as BusyError
  expect(busy.code).toBe('BUSY_TIMEOUT')
  expect(busy.waitedMs).toBeGreaterThanOrEqual(BUSY_TIMEOUT_MS)
  expect(busy.message).toContain(`for ${busy.waitedMs} ms`)
  expect((busy.cause as { code?: string } | undefined)?.code).toMatch(/^SQLITE_BUSY/)

  // Nothing was written, and the store works again now that the lock is free.
  expect(await sessions.get('s1')).toBeUndefined()
  expect(await sessions.count()).toBe(0)
  await expect(sessions.insert({ projectId: 'p1' }, { id: 's1' })).resolves.toMatchObject({ id: 's1', version: 1 })
  expect(await sessions.count()).toBe(1)

  holder.send({ type: 'exec', exit: true })
  await expectCleanExit(holder)
  await store.close()
})
