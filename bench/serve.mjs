// tandem serve against a plain node:http + better-sqlite3 handler, in one run:
//
//   npm run build && node bench/serve.mjs [--json]
//
// BENCH_CPU_PROF=<dir> runs every server with --cpu-prof, writing its profile there when it exits.
//
// 1. single-record inserts over HTTP from 1 client and from 50 concurrent clients (each on its own
//    keep-alive connection), Tandem's server beside a hand-written node:http handler doing the same
//    INSERT with better-sqlite3, at durability 'normal' (synchronous=NORMAL) and 'full'
//    (synchronous=FULL), plus both HTTP stacks answering without a database (the ceiling);
//    interleaved rounds, median with min-max, ratios per round, and each server's CPU per request
//    (bench/serve-throughput.mjs). Every server runs in its own process; this process is the load
//    generator for all.
// 2. change-feed latency over SSE: another process inserts into the store (openStore on the same
//    file), and the time from its commit to the event arriving here is measured (p50/p99).
// 3. memory per idle SSE connection: the server's RSS and heap before and after 1,000 open streams.
import { fork } from 'node:child_process'
import { connect } from 'node:net'
import { cpus, loadavg, platform, release, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import { log, printTable, resultRow, tempDir } from './lib.mjs'
import { SERVER_KINDS, throughput } from './serve-throughput.mjs'

const SSE_SAMPLES = 400
const SSE_GAP_MS = 5
const IDLE_STREAMS = 1000
const here = (name) => fileURLToPath(new URL(name, import.meta.url))

function startServer(kind, dir) {
  const profile = process.env.BENCH_CPU_PROF
  const execArgv = ['--expose-gc', ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`, `--cpu-prof-name=${kind}.cpuprofile`] : [])]
  const child = fork(here('serve-worker.mjs'), [kind, dir], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'], execArgv })
  return new Promise((resolve, reject) => {
    let text = ''
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk) => {
      text += chunk
      const line = text.split('\n').find((l) => l.startsWith('{'))
      if (line !== undefined) resolve({ child, ...JSON.parse(line) })
    })
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)))
  })
}

/** Opens GET /v1/changes as a raw socket; calls onEvent(block) for each event. Resolves once `ready` arrived. */
function openStream(server, onEvent = () => {}) {
  return new Promise((resolve, reject) => {
    const socket = connect(server.port, '127.0.0.1')
    let text = ''
    let ready = false
    socket.setEncoding('utf8')
    socket.on('error', reject)
    socket.on('data', (chunk) => {
      text += chunk
      let end
      while ((end = text.indexOf('\n\n')) >= 0) {
        const block = text.slice(0, end)
        text = text.slice(end + 2)
        if (!ready && block.includes('event: ready')) {
          ready = true
          resolve(socket)
        } else onEvent(block)
      }
    })
    socket.write(`GET /v1/changes?since=now HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer ${server.token}\r\n\r\n`)
  })
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]

async function sseLatency(tandem, dir) {
  log(`SSE latency: ${SSE_SAMPLES} inserts by another process, ${SSE_GAP_MS} ms apart`)
  const received = new Map()
  const socket = await openStream(tandem, (block) => {
    const at = process.hrtime.bigint()
    const data = /^data: (.*)$/m.exec(block)?.[1]
    if (data !== undefined) received.set(JSON.parse(data).id, at)
  })
  const committed = new Map()
  const writer = fork(here('serve-writer.mjs'), [dir, String(SSE_SAMPLES), String(SSE_GAP_MS)], { stdio: 'inherit' })
  await new Promise((resolve) => {
    writer.on('message', (m) => {
      if (m.done) resolve()
      else committed.set(m.id, BigInt(m.at))
    })
  })
  const deadline = Date.now() + 5000
  while (received.size < committed.size && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
  socket.destroy()
  const latencies = [...committed].filter(([id]) => received.has(id)).map(([id, at]) => Number(received.get(id) - at) / 1e6)
  latencies.sort((a, b) => a - b)
  const missed = committed.size - latencies.length
  const p50 = percentile(latencies, 50)
  const p99 = percentile(latencies, 99)
  return {
    rows: [
      resultRow({
        name: 'SSE: commit in another process -> event here',
        tandem: `p50 ${p50.toFixed(2)} / p99 ${p99.toFixed(2)} ms, ${missed} missed`,
        raw: '',
        ratio: '',
        goal: 'p99 <= 5 ms, 0 missed',
        pass: p99 <= 5 && missed === 0,
      }),
    ],
    details: { p50, p99, missed, samples: latencies.length },
  }
}

function memory(server) {
  return new Promise((resolve) => {
    server.child.once('message', resolve)
    server.child.send('mem')
  })
}

async function idleStreams(tandem) {
  log(`memory: ${IDLE_STREAMS} idle SSE connections`)
  const before = await memory(tandem)
  const sockets = []
  for (let i = 0; i < IDLE_STREAMS; i += 100) sockets.push(...(await Promise.all(Array.from({ length: 100 }, () => openStream(tandem)))))
  await new Promise((resolve) => setTimeout(resolve, 500))
  const after = await memory(tandem)
  for (const s of sockets) s.destroy()
  const rss = (after.rss - before.rss) / IDLE_STREAMS / 1024
  const heap = (after.heapUsed - before.heapUsed) / IDLE_STREAMS / 1024
  return {
    rows: [
      resultRow({
        name: `memory per idle SSE connection (${IDLE_STREAMS} open)`,
        tandem: `${rss.toFixed(1)} KiB RSS, ${heap.toFixed(1)} KiB heap`,
        raw: '',
        ratio: '',
        goal: 'report',
        pass: true,
      }),
    ],
    details: { before, after, rssKiB: rss, heapKiB: heap },
  }
}

const json = process.argv.includes('--json')
const { dir, remove } = tempDir('tandem-bench-serve-')
const servers = {}
for (const kind of SERVER_KINDS) servers[kind] = await startServer(kind, dir)
const tandem = servers.tandem
const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, ${platform()} ${release()}, Node ${process.versions.node}`
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')
const loadAtStart = load()
try {
  const results = [await throughput(servers), await sseLatency(tandem, dir), await idleStreams(tandem)]
  const rows = results.flatMap((r) => r.rows)
  const loadAverage = { start: loadAtStart, end: load() }
  if (json) console.log(JSON.stringify({ machine, loadAverage, rows, details: results.map((r) => r.details) }, null, 2))
  else {
    console.log(`machine: ${machine}`)
    console.log(`load average (1, 5, 15 min): ${loadAverage.start} at the start, ${loadAverage.end} at the end`)
    printTable(rows, [
      ['name', 'benchmark'],
      ['tandem', 'tandem serve'],
      ['raw', 'node:http + better-sqlite3'],
      ['ratio', 'ratio (per round)'],
      ['goal', 'goal'],
      ['result', 'result'],
      ['note', 'server CPU us/request (tandem / raw)'],
    ])
  }
} finally {
  // 'exit' rather than a signal: a server run with --cpu-prof writes its profile as it exits.
  await Promise.all(
    Object.values(servers).map(
      (server) =>
        new Promise((resolve) => {
          const timer = setTimeout(() => server.child.kill(), 5000)
          server.child.once('exit', () => resolve(clearTimeout(timer)))
          server.child.send('exit')
        }),
    ),
  )
  remove()
}
