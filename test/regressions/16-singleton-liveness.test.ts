import { join } from 'node:path'
import { expect, test } from 'vitest'
import { openStore } from '../../src/index.js'
import { tempDir } from '../helpers/backends.js'
import { LAST_RESORT_TIMEOUT_MS, forkWorker, noteProgress, sleep, type WorkerHandle, type WorkerMessage } from '../helpers/processes.js'

// Issue 16, item 1: a singleton holder whose heartbeat is late (paused with SIGSTOP longer than the
// stale window, or a clock step) was taken as dead while its pid was alive; a second process took
// the role, and when the first resumed, its heartbeat re-inserted its row: two live holders.

/** The registry's stale window in these tests (TANDEM_STALE_AFTER_MS), instead of 30 s. */
const STALE_AFTER_MS = 1000

interface DaemonOptions {
  host?: string
  clockOffsetMs?: number
}

async function daemon(path: string, options: DaemonOptions = {}): Promise<WorkerHandle> {
  const worker = forkWorker('singleton-daemon.mjs', { path, staleAfterMs: STALE_AFTER_MS, ...options })
  await worker.waitFor('ready')
  return worker
}

const outcome = (w: WorkerHandle) => w.waitFor((m) => m.type === 'holder' || m.type === 'refused')

async function start(path: string, options: DaemonOptions = {}): Promise<{ worker: WorkerHandle; result: WorkerMessage }> {
  const worker = await daemon(path, options)
  worker.send({ type: 'go' })
  return { worker, result: await outcome(worker) }
}

let tags = 0
async function write(worker: WorkerHandle): Promise<WorkerMessage> {
  const tag = `w${++tags}`
  worker.send({ type: 'cmd', action: 'write', tag })
  return worker.waitFor((m) => m.tag === tag)
}

/** Longer than the stale window (and its heartbeat period), on any load: the holder is paused for this long. */
async function pauseBeyondStaleWindow(worker: WorkerHandle): Promise<void> {
  worker.kill('SIGSTOP')
  for (let waited = 0; waited < 3 * STALE_AFTER_MS; waited += 250) {
    await sleep(250)
    noteProgress()
  }
}

async function daemonsListed(path: string): Promise<number[]> {
  const store = await openStore({ path, role: 'observer', collections: {}, readOnly: true })
  try {
    return (await store.processes()).filter((p) => p.role === 'daemon').map((p) => p.pid)
  } finally {
    await store.close()
  }
}

test(
  'a singleton holder paused past the stale window (SIGSTOP) or seen through a stepped clock keeps its role on its own host',
  async () => {
    const path = join(tempDir(), 'store.db')
    const first = await start(path)
    expect(first.result.type).toBe('holder')

    await pauseBeyondStaleWindow(first.worker)
    // Its heartbeat is three stale windows old, but its pid is alive on this host: it still holds the role.
    const second = await start(path)
    expect(second.result, 'a newcomer must not take the role of a paused, live holder').toMatchObject({
      type: 'refused',
      error: { code: 'ROLE_TAKEN' },
    })
    expect((second.result.error as { message: string }).message).toContain(`pid ${first.worker.pid}`)
    expect((second.result.error as { message: string }).message).toContain('stopped')
    console.log(`newcomer while the holder is paused: ${(second.result.error as { message: string }).message}`)

    first.worker.kill('SIGCONT')
    expect(await write(first.worker)).toMatchObject({ type: 'wrote' })

    // A newcomer whose wall clock runs an hour ahead sees an hour-old heartbeat: still refused.
    const stepped = await start(path, { clockOffsetMs: 3_600_000 })
    expect(stepped.result, 'a clock step must not make a live holder look dead').toMatchObject({
      type: 'refused',
      error: { code: 'ROLE_TAKEN' },
    })

    expect(await daemonsListed(path)).toEqual([first.worker.pid])
    first.worker.send({ type: 'cmd', action: 'stop' })
    await first.worker.exited
  },
  LAST_RESORT_TIMEOUT_MS,
)

test(
  'a holder on another host that stays silent past the stale window loses the role, and learns it before its next write',
  async () => {
    const path = join(tempDir(), 'store.db')
    const first = await start(path, { host: 'host-a' })
    expect(first.result.type).toBe('holder')

    await pauseBeyondStaleWindow(first.worker)
    // Another host cannot see the pid: after a stale window of silence it takes the role over.
    const second = await start(path, { host: 'host-b' })
    expect(second.result).toMatchObject({ type: 'holder' })

    // The first resumes. Its overdue heartbeat must not re-insert its row, and its next write must
    // fail with ROLE_LOST instead of acting as a second daemon.
    first.worker.kill('SIGCONT')
    const attempt = await write(first.worker)
    expect(attempt, 'a resumed former holder must not write as the holder').toMatchObject({
      type: 'write-failed',
      error: { code: 'ROLE_LOST' },
    })
    expect(await first.worker.waitFor('writes-refused')).toMatchObject({ error: { code: 'ROLE_LOST' } })
    console.log(`resumed former holder: ${(attempt.error as { message: string }).message}`)
    expect(await daemonsListed(path), 'exactly one live holder').toEqual([second.worker.pid])
    expect(await write(second.worker)).toMatchObject({ type: 'wrote' })

    for (const w of [first.worker, second.worker]) w.send({ type: 'cmd', action: 'stop' })
    await Promise.all([first.worker.exited, second.worker.exited])
  },
  LAST_RESORT_TIMEOUT_MS,
)
