// One contending process of benchmark 3, started by contention.mjs with child_process.fork.
// It opens the store (Tandem or raw better-sqlite3), says 'ready', waits for 'go', then increments
// the hot record with exactly one increment in flight for `durationMs`, and reports its figures.
import { Latencies, openRaw, openTandem, sendWorkerResult } from './lib.mjs'

const HOT_ID = 'hot'

async function runTandem(path, durationMs, index) {
  const store = await openTandem(path, { role: `worker${index}` })
  const items = store.collection('items')
  // Counts how often another process wrote between two of ours (a lock handoff).
  let last = -1
  let switches = 0
  const increment = (data) => {
    if (data.n !== last) switches++
    last = data.n + 1
    return { ...data, n: last }
  }
  return {
    close: () => store.close(),
    async run() {
      const latencies = new Latencies()
      let counted = 0
      let completed = 0
      const started = performance.now()
      const end = started + durationMs
      for (let now = started; now < end;) {
        await items.update(HOT_ID, increment)
        const done = performance.now()
        completed++
        if (done <= end) counted++
        latencies.add(done - now)
        now = done
      }
      const { retries, longestWaitMs } = store.backend.busyStats ?? {}
      return {
        latencies,
        counted,
        completed,
        busyErrors: 0,
        elapsedMs: performance.now() - started,
        extra: { busyRetries: retries, longestWaitMs, switches },
      }
    },
  }
}

/** Raw better-sqlite3; with `withLog`, each increment also appends a change-log row, as Tandem's does. */
function runRaw(path, durationMs, withLog = false) {
  // busy_timeout 5000: SQLite's own busy handler sleeps (1, 2, 5, 10 ... 100 ms) between tries.
  const db = openRaw(path, { busyTimeoutMs: 5000 })
  const begin = db.prepare('BEGIN IMMEDIATE')
  const select = db.prepare('SELECT version, data FROM items WHERE id = ?')
  const update = db.prepare('UPDATE items SET version = ?, updated_at = ?, data = ? WHERE id = ?')
  const commit = db.prepare('COMMIT')
  const log = db.prepare(
    "INSERT INTO changes (collection, id, op, version, role, at, data) VALUES ('items', ?, 'update', ?, 'bench', ?, ?)",
  )
  return {
    close: () => db.close(),
    async run() {
      const latencies = new Latencies()
      let counted = 0
      let completed = 0
      let busyErrors = 0
      let last = -1
      let switches = 0
      const started = performance.now()
      const end = started + durationMs
      // An increment that hits an escaped SQLITE_BUSY is retried, as an application would; its
      // latency runs from its first try to its commit.
      for (let opStarted = started; opStarted < end;) {
        try {
          begin.run()
          const row = select.get(HOT_ID)
          const data = JSON.parse(row.data)
          if (data.n !== last) switches++
          last = data.n + 1
          const json = JSON.stringify({ ...data, n: last })
          const now = Date.now()
          update.run(row.version + 1, now, json, HOT_ID)
          if (withLog) log.run(HOT_ID, row.version + 1, now, json)
          commit.run()
          const done = performance.now()
          completed++
          if (done <= end) counted++
          latencies.add(done - opStarted)
          opStarted = done
        } catch (error) {
          if (db.inTransaction) db.exec('ROLLBACK')
          if (!String(error.code).startsWith('SQLITE_BUSY')) throw error
          busyErrors++
          const now = performance.now()
          if (now >= end) {
            // Given up at the deadline: its wait still counts towards the worst latency.
            latencies.maxMs = Math.max(latencies.maxMs, now - opStarted)
            break
          }
        }
      }
      return { latencies, counted, completed, busyErrors, elapsedMs: performance.now() - started, extra: { switches } }
    },
  }
}

const { mode, path, durationMs, index } = JSON.parse(process.argv[2])
const worker = mode === 'tandem' ? await runTandem(path, durationMs, index) : runRaw(path, durationMs, mode === 'rawlog')
process.once('message', async (message) => {
  if (message !== 'go') throw new Error(`contention-worker expected 'go', got ${JSON.stringify(message)}`)
  const cpuBefore = process.cpuUsage()
  const { latencies, counted, completed, busyErrors, elapsedMs, extra } = await worker.run()
  const cpu = process.cpuUsage(cpuBefore)
  await worker.close()
  sendWorkerResult(index, latencies, cpu, { counted, completed, busyErrors, elapsedMs, ...extra })
})
process.send({ type: 'ready', index })
