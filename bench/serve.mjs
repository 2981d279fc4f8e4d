// tandem serve against a plain node:http + better-sqlite3 handler, in one run:
//
//   npm run build && node bench/serve.mjs [--json]
//
// 1. single-record inserts over HTTP from 1 client and from 50 concurrent clients (each on its own
//    keep-alive connection), Tandem's server beside a hand-written node:http handler doing the same
//    INSERT with better-sqlite3; interleaved rounds, median with min-max. Both servers run in their
//    own process; this process is the load generator for both.
// 2. change-feed latency over SSE: another process inserts into the store (openStore on the same
//    file), and the time from its commit to the event arriving here is measured (p50/p99).
// 3. memory per idle SSE connection: the server's RSS and heap before and after 1,000 open streams.
import { fork } from 'node:child_process'
import { Agent, request } from 'node:http'
import { connect } from 'node:net'
import { cpus, platform, release, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import { log, median, printTable, resultRow, sampleData, tempDir } from './lib.mjs'

const ROUNDS = 5
const ROUND_MS = 1500
const WARMUP_MS = 500
const SSE_SAMPLES = 400
const SSE_GAP_MS = 5
const IDLE_STREAMS = 1000
const here = (name) => fileURLToPath(new URL(name, import.meta.url))

function startServer(kind, dir) {
  const child = fork(here('serve-worker.mjs'), [kind, dir], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'], execArgv: ['--expose-gc'] })
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

function post(agent, port, token, body) {
  const payload = JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        agent,
        method: 'POST',
        path: '/v1/collections/items/records',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        res.resume()
        res.on('end', () => (res.statusCode === 201 ? resolve() : reject(new Error(`status ${res.statusCode}`))))
      },
    )
    req.on('error', reject)
    req.end(payload)
  })
}

/** Inserts per second from `clients` concurrent clients, each awaiting its answer before the next. */
async function insertRate(server, clients, ms) {
  const agents = Array.from({ length: clients }, () => new Agent({ keepAlive: true, maxSockets: 1 }))
  const until = performance.now() + ms
  let done = 0
  await Promise.all(
    agents.map(async (agent, k) => {
      for (let i = 0; performance.now() < until; i++) {
        await post(agent, server.port, server.token, { data: sampleData(k * 1_000_000 + i) })
        done++
      }
    }),
  )
  for (const agent of agents) agent.destroy()
  return (done * 1000) / ms
}

const spread = (values) => `${Math.round(median(values))}/s (${Math.round(Math.min(...values))}-${Math.round(Math.max(...values))})`

async function throughput(tandem, raw) {
  const rows = []
  const details = {}
  for (const clients of [1, 50]) {
    log(`inserts from ${clients} client(s): ${ROUNDS} rounds of ${ROUND_MS} ms each side, alternating`)
    await insertRate(raw, clients, WARMUP_MS)
    await insertRate(tandem, clients, WARMUP_MS)
    const rates = { tandem: [], raw: [] }
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate which side goes first, so noise on the machine hits both alike.
      const order = round % 2 === 0 ? ['raw', 'tandem'] : ['tandem', 'raw']
      for (const side of order) rates[side].push(await insertRate(side === 'raw' ? raw : tandem, clients, ROUND_MS))
      log(`  round ${round + 1}: raw ${Math.round(rates.raw.at(-1))}/s, tandem ${Math.round(rates.tandem.at(-1))}/s`)
    }
    const ratio = median(rates.tandem) / median(rates.raw)
    const goal = clients === 1 ? 0.8 : 2
    rows.push(
      resultRow({
        name: `inserts over HTTP, ${clients} client${clients === 1 ? '' : 's'} (2xx/s)`,
        tandem: spread(rates.tandem),
        raw: spread(rates.raw),
        ratio: `${ratio.toFixed(2)}x`,
        goal: `>= ${goal}x raw`,
        pass: ratio >= goal,
      }),
    )
    details[`clients${clients}`] = rates
  }
  return { rows, details }
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
const tandem = await startServer('tandem', dir)
const raw = await startServer('raw', dir)
const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, ${platform()} ${release()}, Node ${process.versions.node}`
try {
  const results = [await throughput(tandem, raw), await sseLatency(tandem, dir), await idleStreams(tandem)]
  const rows = results.flatMap((r) => r.rows)
  if (json) console.log(JSON.stringify({ machine, rows, details: results.map((r) => r.details) }, null, 2))
  else {
    console.log(`machine: ${machine}`)
    printTable(rows, [
      ['name', 'benchmark'],
      ['tandem', 'tandem serve'],
      ['raw', 'node:http + better-sqlite3'],
      ['ratio', 'ratio'],
      ['goal', 'goal'],
      ['result', 'result'],
    ])
  }
} finally {
  tandem.child.kill()
  raw.child.kill()
  await new Promise((resolve) => setTimeout(resolve, 200))
  remove()
}
