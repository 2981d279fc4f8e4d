// A subscriber process for the change-feed latency benchmark. argv: JSON { path, method, count }.
// method 'tandem': store.changes(); 'poll': raw better-sqlite3 polling PRAGMA data_version every 1 ms;
// 'watch': raw fs.watch on the -wal file alone; 'pipe': no store at all, the writer's IPC message
// after each commit (the machine's wake-up floor). Records the clock when each change arrives.
import { watch } from 'node:fs'
import Database from 'better-sqlite3'
import { openStore } from '../dist/index.js'

const { path, method, count, idleMs } = JSON.parse(process.argv[2])
const now = () => performance.timeOrigin + performance.now()
const arrivals = new Map()
const send = (m) => process.send(m)

async function tandem() {
  const store = await openStore({ path, role: 'subscriber', collections: { events: { writers: '*' } } })
  const feed = store.changes({ collections: ['events'] })
  send({ type: 'ready' })
  for await (const change of feed) {
    arrivals.set(change.data.i, now())
    if (arrivals.size === count) break
  }
  // Idle cost: the subscription stays open while nothing happens. Measured from its second quiet
  // second: during the first, the fallback still looks every 50 ms, as while changes come.
  const idle = store.changes()
  await new Promise((resolve) => setTimeout(resolve, 1100))
  const cpu = process.cpuUsage()
  await new Promise((resolve) => setTimeout(resolve, idleMs))
  const used = process.cpuUsage(cpu)
  idle.close()
  await store.close()
  return (used.user + used.system) / 1000 / idleMs
}

function rawReader() {
  const db = new Database(path, { readonly: true })
  // The change log names the record; its data is in the record's table (docs/protocol.md).
  const select = db.prepare('SELECT c.seq, r.data FROM _tandem_changes c JOIN c_events r ON r.id = c.id WHERE c.seq > ? ORDER BY c.seq')
  let cursor = db.prepare('SELECT coalesce(max(seq), 0) AS s FROM _tandem_changes').get().s
  return {
    db,
    drain() {
      for (const row of select.all(cursor)) {
        cursor = row.seq
        arrivals.set(JSON.parse(row.data).i, now())
      }
    },
  }
}

async function poll() {
  const reader = rawReader()
  let version = reader.db.pragma('data_version', { simple: true })
  const tick = () => {
    const v = reader.db.pragma('data_version', { simple: true })
    if (v !== version) {
      version = v
      reader.drain()
    }
  }
  const timer = setInterval(tick, 1)
  send({ type: 'ready' })
  while (arrivals.size < count) await new Promise((resolve) => setTimeout(resolve, 20))
  const cpu = process.cpuUsage()
  await new Promise((resolve) => setTimeout(resolve, idleMs))
  const used = process.cpuUsage(cpu)
  clearInterval(timer)
  return (used.user + used.system) / 1000 / idleMs
}

async function watchOnly() {
  const reader = rawReader()
  const watcher = watch(`${path}-wal`, () => reader.drain())
  send({ type: 'ready' })
  // The writer tells us when it is done; whatever has not arrived by then was missed by the watch.
  await new Promise((resolve) => process.once('message', resolve))
  watcher.close()
  return 0
}

async function pipe() {
  await new Promise((resolve) => {
    process.on('message', (m) => {
      if (m === 'stop') resolve()
      else arrivals.set(m.i, now())
    })
    send({ type: 'ready' })
  })
  return 0
}

const methods = { tandem, poll, watch: watchOnly, pipe }
const idleCpu = await methods[method]()
send({ type: 'done', arrivals: [...arrivals.entries()], idleCpu })
process.disconnect()
