// Waits for the SQLite write lock another process holds, while measuring how late a 5 ms timer
// fires (event-loop lag) and how often it fired while the write waited. mode 'tandem': a Tandem insert. mode 'raw': a plain better-sqlite3
// connection with a busy timeout (SQLite's busy handler sleeps the thread).
import Database from 'better-sqlite3'
import { openStore } from 'tandemdb'
import { command, failOnCrash, finish, report, workerArgs } from './channel.mjs'

failOnCrash()
const { mode, store: config, collection, file, busyTimeoutMs } = workerArgs()

const TICK_MS = 5
function startLagMonitor() {
  let last = performance.now()
  let worst = 0
  let ticks = 0
  const timer = setInterval(() => {
    const now = performance.now()
    worst = Math.max(worst, now - last - TICK_MS)
    last = now
    ticks++
  }, TICK_MS)
  return {
    /** Ticks so far: read when the write returns, it says how often the loop turned while it waited. */
    ticks: () => ticks,
    async stop() {
      // Let the timer fire once more after the wait, so a block that just ended is counted.
      await new Promise((resolve) => setTimeout(resolve, 4 * TICK_MS))
      clearInterval(timer)
      return { worstLagMs: Math.round(worst), ticks }
    },
  }
}

let write
let close
if (mode === 'tandem') {
  const store = await openStore(config)
  write = async () => (await store.collection(collection).insert({ from: 'lag-probe' })).id
  close = () => store.close()
} else {
  const db = new Database(file, { timeout: busyTimeoutMs })
  db.exec('CREATE TABLE IF NOT EXISTS raw_probe (note TEXT)')
  write = async () => {
    db.exec('BEGIN IMMEDIATE') // waits in SQLite's busy handler, on this thread
    db.prepare('INSERT INTO raw_probe (note) VALUES (?)').run('lag-probe')
    db.exec('COMMIT')
    return null
  }
  close = () => db.close()
}
report({ type: 'ready', pragmaBusyTimeout: mode === 'raw' ? busyTimeoutMs : undefined })

await command('go')
const monitor = startLagMonitor()
report({ type: 'started' })
const started = performance.now()
const id = await write()
const waitedMs = Math.round(performance.now() - started)
const ticksWhileWaiting = monitor.ticks()
const lag = await monitor.stop()
await close()
report({ type: 'result', id, waitedMs, ticksWhileWaiting, ...lag })
finish()
