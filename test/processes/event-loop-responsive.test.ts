import { join } from 'node:path'
import { expect, onTestFinished, test } from 'vitest'
import { openStore } from '../../src/index.js'
import { tempDir } from '../helpers/backends.js'
import { expectCleanExit, forkWorker, rawExec, sleep } from '../helpers/processes.js'

// While another process holds SQLite's write lock, a Tandem write waits for it without stalling
// its process: timers, I/O and other requests keep running. A plain better-sqlite3 connection
// waits inside SQLite's busy handler instead, which sleeps the thread for the whole wait.

const HOLD_MS = 1000
const MAX_LAG_MS = 250
const collections = { events: { writers: '*' } } as const

async function setUp() {
  const dataDir = tempDir()
  const setup = await openStore({ dataDir, path: 'store.db', role: 'setup', collections })
  await setup.close()
  const holder = forkWorker('raw-sqlite.mjs', { file: join(dataDir, 'store.db') })
  await holder.waitFor('ready')
  return { dataDir, holder }
}

/** Holds the write lock from before the probe starts waiting until HOLD_MS after it did. */
async function holdLockWhileProbeWaits(holder: ReturnType<typeof forkWorker>, probe: ReturnType<typeof forkWorker>) {
  await rawExec(holder, 'BEGIN IMMEDIATE')
  probe.send({ type: 'go' })
  await probe.waitFor('started')
  await sleep(HOLD_MS)
  await rawExec(holder, 'COMMIT')
  const result = await probe.waitFor('result')
  await expectCleanExit(probe)
  holder.send({ type: 'exec', exit: true })
  await expectCleanExit(holder)
  return result as unknown as { id: string | null; waitedMs: number; worstLagMs: number; ticks: number }
}

test('a Tandem write waiting a second for another process’s lock keeps its event loop responsive', async () => {
  const { dataDir, holder } = await setUp()
  // The probe opens its store before the lock is taken: opening writes too (it creates tables).
  const probe = forkWorker('lag-probe.mjs', { mode: 'tandem', store: { dataDir, path: 'store.db', role: 'probe', collections }, collection: 'events' })
  await probe.waitFor('ready')

  const result = await holdLockWhileProbeWaits(holder, probe)
  console.log(`Tandem insert waited ${result.waitedMs} ms for the lock; worst event-loop lag ${result.worstLagMs} ms over ${result.ticks} ticks of 5 ms`)

  expect(result.waitedMs).toBeGreaterThanOrEqual(HOLD_MS - 100)
  expect(result.worstLagMs).toBeLessThan(MAX_LAG_MS)
  const store = await openStore({ dataDir, path: 'store.db', role: 'checker', collections })
  onTestFinished(() => store.close())
  expect(await store.collection('events').get(result.id!)).toMatchObject({ role: 'probe', data: { from: 'lag-probe' } })
  await store.close()
})

test('for contrast, raw better-sqlite3 with busy_timeout = 2000 blocks its event loop for the whole wait', async () => {
  const { dataDir, holder } = await setUp()
  const probe = forkWorker('lag-probe.mjs', { mode: 'raw', file: join(dataDir, 'store.db'), busyTimeoutMs: 2000 })
  await probe.waitFor('ready')

  const result = await holdLockWhileProbeWaits(holder, probe)
  console.log(`raw better-sqlite3 waited ${result.waitedMs} ms for the lock; worst event-loop lag ${result.worstLagMs} ms over ${result.ticks} ticks of 5 ms`)

  expect(result.waitedMs).toBeGreaterThanOrEqual(HOLD_MS - 100)
  expect(result.worstLagMs).toBeGreaterThan(800)
})
