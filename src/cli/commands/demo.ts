import { fork, type ChildProcess } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { DemoCleanup } from '../demo/demo-cleanup.js'
import { SHARED_COUNTER, openDemoStore, type DemoStore } from '../demo/demo-store.js'
import type { WorkerMessage } from '../demo/demo-worker.js'
import type { Command, CommandContext } from '../output.js'

interface Worker {
  role: 'daemon' | 'server'
  child: ChildProcess
  exited: Promise<void>
}

interface Tally {
  acked: Map<string, string[]>
  increments: number
  kills: number
}

const WORKER = new URL('../demo/demo-worker.js', import.meta.url)

function startWorker(path: string, role: Worker['role'], tally: Tally, cleanup: DemoCleanup): Promise<Worker> {
  const child = fork(WORKER, [path, role], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  cleanup.track(child)
  const exited = new Promise<void>((done) => child.once('exit', () => done()))
  return new Promise((ready, fail) => {
    child.once('error', fail)
    child.on('message', (message: WorkerMessage) => {
      if (message.type === 'ready') ready({ role, child, exited })
      else if (message.type === 'acked') {
        const ids = tally.acked.get(message.collection) ?? []
        ids.push(message.id)
        tally.acked.set(message.collection, ids)
      } else if (message.type === 'incremented') tally.increments++
    })
    child.once('exit', (code) => fail(new Error(`The demo's ${role} process exited early (code ${code}).`)))
  })
}

async function counts(store: DemoStore) {
  return {
    sessions: await store.collection('sessions').count(),
    projects: await store.collection('projects').count(),
    notifications: await store.collection('notifications').count(),
    counter: (await store.collection('counters').get(SHARED_COUNTER))?.data.n as number,
  }
}

/** Every acknowledged id that is not in the store. */
async function missingIds(store: DemoStore, acked: Map<string, string[]>): Promise<string[]> {
  const missing: string[] = []
  for (const [collection, ids] of acked) {
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500)
      const found = new Set((await store.collection(collection as 'sessions').find({ where: { $id: { in: chunk } } })).map((r) => r.id))
      missing.push(...chunk.filter((id) => !found.has(id)).map((id) => `${collection}/${id}`))
    }
  }
  return missing
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** The demo itself: starts the workers, kills one mid-way, then checks every acknowledged write. */
async function runDemo(ctx: CommandContext, path: string, seconds: number, cleanup: DemoCleanup): Promise<number> {
  const store = await openDemoStore(path, 'cli')
  cleanup.onClose(() => store.close())
  await store.collection('counters').upsert(SHARED_COUNTER, { n: (await store.collection('counters').get(SHARED_COUNTER))?.data.n ?? 0 })
  const start = await counts(store)
  const tally: Tally = { acked: new Map(), increments: 0, kills: 0 }

  ctx.log(`Store: ${path}${cleanup.removesFolder ? ' (a temporary folder, removed at the end)' : ''}`)
  ctx.log(
    'Starting a daemon process (writes sessions) and a server process (writes projects); both add notifications and bump one shared counter.\n',
  )
  const workers = await Promise.all([startWorker(path, 'daemon', tally, cleanup), startWorker(path, 'server', tally, cleanup)])
  const started = Date.now()
  const killAt = started + seconds * 400
  let killed = false
  ctx.log('  time   sessions  projects  notifications  counter  acknowledged')
  while (Date.now() - started < seconds * 1000) {
    await sleep(500)
    if (!killed && Date.now() >= killAt) {
      killed = true
      const victim = workers[0]!
      victim.child.kill('SIGKILL')
      await victim.exited
      tally.kills++
      ctx.log(`  -- killed the daemon (pid ${victim.child.pid}) with SIGKILL mid-write; restarting it --`)
      workers[0] = await startWorker(path, 'daemon', tally, cleanup)
    }
    const now = await counts(store)
    const acked = [...tally.acked.values()].reduce((n, ids) => n + ids.length, 0)
    ctx.log(
      `  ${((Date.now() - started) / 1000).toFixed(1).padStart(4)}s  ${String(now.sessions).padStart(8)}  ${String(now.projects).padStart(8)}  ${String(now.notifications).padStart(13)}  ${String(now.counter).padStart(7)}  ${String(acked).padStart(12)}`,
    )
  }
  for (const w of workers) w.child.send('stop')
  await Promise.all(workers.map((w) => w.exited))

  // Verify: every write a process was told had committed is in the store.
  const missing = await missingIds(store, tally.acked)
  const end = await counts(store)
  const counterDelta = end.counter - start.counter
  const counterOk = counterDelta >= tally.increments && counterDelta <= tally.increments + tally.kills
  const integrity = (await store.backend.checkIntegrity?.()) ?? ['ok']
  await store.close()
  const acknowledged = [...tally.acked.values()].reduce((n, ids) => n + ids.length, 0)
  const ok = missing.length === 0 && counterOk && integrity.join() === 'ok'
  const result = {
    ok,
    store: path,
    seconds,
    kills: tally.kills,
    acknowledgedWrites: acknowledged,
    missingWrites: missing,
    acknowledgedIncrements: tally.increments,
    counterIncrease: counterDelta,
    integrity,
    storeRemoved: cleanup.removesFolder,
  }
  if (ctx.json) ctx.result(result)
  else {
    ctx.log('')
    ctx.out(
      `${ok ? 'OK' : 'FAILED'}: ${acknowledged} acknowledged writes, ${missing.length} missing; ${tally.kills} process killed with SIGKILL.`,
    )
    ctx.out(
      `Shared counter went up by ${counterDelta} for ${tally.increments} acknowledged increments (an increment in flight at the kill may commit unacknowledged: at most ${tally.kills}).`,
    )
    ctx.out(`integrity_check: ${integrity.join('; ')}`)
    if (missing.length > 0) ctx.out(`Missing: ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', ...' : ''}`)
    if (cleanup.removesFolder) ctx.log('The temporary folder is removed on exit; run with --dir DIR to keep the store.')
  }
  return ok ? 0 : 1
}

export const demo: Command = {
  name: 'demo',
  summary:
    'Two processes (a daemon and a server) share one store; one is killed with SIGKILL mid-way; every acknowledged write is checked.',
  usage: 'tandem demo [--dir DIR] [--seconds N] [--json]',
  options: {
    dir: {
      type: 'string',
      description: 'where to create the demo store, kept afterwards (default: a temp directory, removed at the end and on Ctrl-C)',
    },
    seconds: { type: 'string', description: 'how long the processes write (default 6)' },
  },
  examples: ['tandem demo', 'tandem demo --seconds 20 --dir ./demo-data', 'tandem demo --json'],
  async run(ctx: CommandContext): Promise<number> {
    const seconds = Number(ctx.values.seconds ?? 6)
    if (!Number.isFinite(seconds) || seconds < 2 || seconds > 3600)
      throw new RangeError(`--seconds must be a number from 2 to 3600 (got ${String(ctx.values.seconds)}).`)
    const temporary = typeof ctx.values.dir !== 'string'
    const dir = temporary ? mkdtempSync(join(tmpdir(), 'tandem-demo-')) : resolve(ctx.values.dir as string)
    const cleanup = new DemoCleanup(temporary ? dir : undefined)
    try {
      return await runDemo(ctx, join(dir, 'demo.db'), seconds, cleanup)
    } finally {
      await cleanup.finish()
    }
  },
}
