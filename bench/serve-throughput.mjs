// Inserts over HTTP for bench/serve.mjs: every server of serve-worker.mjs, from 1 client and from
// 50 concurrent clients (each on its own keep-alive connection, awaiting each answer before its
// next request), in interleaved rounds: each round runs every server once, the order reversed
// every other round, so noise on the machine hits all alike. Ratios are taken per round.
//
// Besides the rate, each round reads the server process's CPU time (/proc/<pid>/stat, Linux) and
// divides it by the requests answered: the CPU one request costs the server, which says where the
// time goes (the HTTP stack alone is the *-nodb servers).
import { readFileSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { log, median, resultRow, sampleData } from './lib.mjs'

export const ROUNDS = 5
export const ROUND_MS = 1500
const WARMUP_MS = 500
export const SERVER_KINDS = ['tandem', 'raw', 'tandem-full', 'raw-full', 'tandem-nodb', 'raw-nodb']

/** The rows: which two servers are compared, with how many clients, against which goal. */
const PAIRS = [
  { clients: 1, tandem: 'tandem', raw: 'raw', goal: 0.8, name: "1 client, durability 'normal' / synchronous=NORMAL" },
  { clients: 50, tandem: 'tandem', raw: 'raw', goal: 2, name: "50 clients, durability 'normal' / synchronous=NORMAL" },
  { clients: 1, tandem: 'tandem-full', raw: 'raw-full', goal: 0.8, name: "1 client, durability 'full' / synchronous=FULL" },
  { clients: 50, tandem: 'tandem-full', raw: 'raw-full', goal: 2, name: "50 clients, durability 'full' / synchronous=FULL" },
  { clients: 1, tandem: 'tandem-nodb', raw: 'raw-nodb', name: '1 client, no database (HTTP only: the ceiling)' },
  { clients: 50, tandem: 'tandem-nodb', raw: 'raw-nodb', name: '50 clients, no database (HTTP only: the ceiling)' },
]

function post(agent, server, body) {
  const payload = JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: server.port,
        agent,
        method: 'POST',
        path: server.path,
        headers: {
          authorization: `Bearer ${server.token}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
        },
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

/** User + system CPU time of a process in microseconds, or undefined off Linux. */
function cpuMicros(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return (Number(fields[11]) + Number(fields[12])) * 10_000 // clock ticks of 10 ms
  } catch {
    return undefined
  }
}

/** Inserts per second from `clients` concurrent clients, and the server's CPU per request (µs). */
async function insertRate(server, clients, ms) {
  const agents = Array.from({ length: clients }, () => new Agent({ keepAlive: true, maxSockets: 1 }))
  const cpuBefore = cpuMicros(server.child.pid)
  const until = performance.now() + ms
  let done = 0
  await Promise.all(
    agents.map(async (agent, k) => {
      for (let i = 0; performance.now() < until; i++) {
        await post(agent, server, { data: sampleData(k * 1_000_000 + i) })
        done++
      }
    }),
  )
  const cpuAfter = cpuMicros(server.child.pid)
  for (const agent of agents) agent.destroy()
  return { rate: (done * 1000) / ms, cpu: cpuBefore === undefined ? undefined : (cpuAfter - cpuBefore) / done }
}

const range = (values, digits = 0) => {
  const f = (v) => (digits === 0 ? String(Math.round(v)) : v.toFixed(digits))
  return `${f(median(values))} (${f(Math.min(...values))}-${f(Math.max(...values))})`
}

/** Runs the rounds against `servers` (kind -> server); returns the table rows and the raw figures. */
export async function throughput(servers) {
  const rows = []
  const details = {}
  for (const clients of [1, 50]) {
    log(`inserts from ${clients} client(s): ${ROUNDS} rounds of ${ROUND_MS} ms per server, order alternating`)
    for (const kind of SERVER_KINDS) await insertRate(servers[kind], clients, WARMUP_MS)
    const runs = Object.fromEntries(SERVER_KINDS.map((kind) => [kind, []]))
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? SERVER_KINDS : [...SERVER_KINDS].reverse()
      for (const kind of order) runs[kind].push(await insertRate(servers[kind], clients, ROUND_MS))
      log(`  round ${round + 1}: ${SERVER_KINDS.map((kind) => `${kind} ${Math.round(runs[kind].at(-1).rate)}/s`).join(', ')}`)
    }
    for (const pair of PAIRS.filter((p) => p.clients === clients)) {
      const tandem = runs[pair.tandem].map((r) => r.rate)
      const raw = runs[pair.raw].map((r) => r.rate)
      const ratios = tandem.map((t, round) => t / raw[round])
      const ratio = median(ratios)
      const cpu = (kind) => (runs[kind][0].cpu === undefined ? '' : `${Math.round(median(runs[kind].map((r) => r.cpu)))}`)
      rows.push(
        resultRow({
          name: pair.name,
          tandem: `${range(tandem)}/s`,
          raw: `${range(raw)}/s`,
          ratio: `${range(ratios, 2)}x`,
          goal: pair.goal === undefined ? 'report' : `>= ${pair.goal}x raw`,
          pass: pair.goal === undefined || ratio >= pair.goal,
          note: `${cpu(pair.tandem)} / ${cpu(pair.raw)}`,
        }),
      )
    }
    details[`clients${clients}`] = runs
  }
  return { rows, details }
}
