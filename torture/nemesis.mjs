// The nemesis: a process of its own that injects faults on timers while the workers run.
//   kill9      SIGKILL one process (a worker, or the change-feed follower) at a random moment,
//              which is nearly always mid-transaction; the runner restarts it
//   restart    SIGKILL every worker and the follower at once: the whole application crashes and
//              comes back
//   <backend>  the faults of the backend's entry in backends.mjs (SQLite: a foreign
//              wal_checkpoint(TRUNCATE); PostgreSQL: pg_terminate_backend, CHECKPOINT)
// The runner tells it the current pids ({ type: 'targets' }) and when to stop. Every fault goes
// to its log, with the time, before (kills) or after (backend faults) it happens.
import { clock, openLog } from './log.mjs'
import { createRandom } from './random.mjs'
import { BACKENDS } from './backends.mjs'

const args = JSON.parse(process.argv[2])
const now = clock(args.startNs)
const log = openLog(args.log)
const random = createRandom(`${args.seed}/nemesis`)
const backend = BACKENDS[args.backend]
let targets = []
let stopping = false
let wakeStop
const stopped = new Promise((resolve) => (wakeStop = resolve))

process.on('message', (message) => {
  if (message?.type === 'targets') targets = message.targets
  if (message?.type === 'stop') {
    stopping = true
    wakeStop()
  }
})
process.on('disconnect', () => {
  stopping = true
  wakeStop()
})

/** Sleeps about `ms` (uniformly 0.5x to 1.5x), or less if the run stops. */
function pause(ms) {
  return Promise.race([new Promise((resolve) => setTimeout(resolve, ms * (0.5 + random.next()))), stopped])
}

function kill(target) {
  try {
    process.kill(target.pid, 'SIGKILL')
    return true
  } catch {
    return false // Already gone: it died a moment ago and is being restarted.
  }
}

const PROCESS_FAULTS = {
  kill9: {
    everyMs: args.killEveryMs,
    async inject() {
      if (targets.length === 0) return undefined
      const target = random.pick(targets)
      log.write({ t: 'fault', f: 'kill9', at: now(), target: target.name, pid: target.pid })
      return { killed: kill(target) }
    },
  },
  restart: {
    everyMs: args.restartEveryMs,
    async inject() {
      if (targets.length === 0) return undefined
      log.write({ t: 'fault', f: 'restart', at: now(), targets: targets.map((t) => t.name) })
      return { killed: targets.filter(kill).length }
    },
  },
}

async function loop(name) {
  const processFault = PROCESS_FAULTS[name]
  const fault = processFault ?? backend.faults[name]
  const everyMs = args.everyMs?.[name] ?? fault.everyMs
  const state = processFault === undefined ? await fault.setup(args.location) : undefined
  try {
    while (!stopping) {
      await pause(everyMs)
      if (stopping) break
      try {
        const result = await fault.inject(state, random)
        if (processFault === undefined) log.write({ t: 'fault', f: name, at: now(), ...result })
      } catch (error) {
        log.write({ t: 'fault', f: name, at: now(), error: String(error?.message ?? error) })
      }
    }
  } finally {
    if (state !== undefined) await fault.teardown(state)
  }
}

log.write({ t: 'start', pid: process.pid, faults: args.faults, at: now() })
await Promise.all(args.faults.map(loop))
log.write({ t: 'end', at: now() })
log.close()
process.exit(0)
