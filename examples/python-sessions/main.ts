// The real scenario of issue #18: a Python daemon writes sessions through `tandem serve`, a Node
// API server reads them and hears each new one through the change feed, and a Python dashboard
// tails the feed over Server-Sent Events. main.ts starts all four processes, then checks that
// every session the daemon was told was written reached the server and the dashboard once, in
// order, and that each role's token could write only its own collection.
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { Checks, Child, makeDataDir, parseCliJson, runCli, runMain, startCli, Tally } from '../shared/processes.ts'
import type { ServerMessage } from './server.ts'

const SESSIONS = Number(process.env.SESSIONS ?? 100)
const here = import.meta.dirname
const clients = join(here, '../../clients/python')

/** A JSON line a Python program printed. */
type PyMessage = { type: string; [field: string]: unknown }

/** Runs a Python program of this folder; its JSON lines are collected, other lines shown. */
function python(name: string, args: string[]) {
  const child = spawn('python3', ['-u', join(here, name), ...args], {
    env: { ...process.env, PYTHONPATH: clients },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const messages: PyMessage[] = []
  let partial = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n')
    partial = lines.pop() ?? ''
    for (const line of lines)
      if (line.startsWith('{')) messages.push(JSON.parse(line) as PyMessage)
      else console.log(`[${name}] ${line}`)
  })
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', resolve)
  })
  return { messages, exited, of: (type: string) => messages.filter((m) => m.type === type) }
}

runMain(90_000, async () => {
  const dataDir = makeDataDir('python-sessions')
  const env = { APP_DATA_DIR: dataDir }
  console.log(`Store in ${dataDir}; a Python daemon writes ${SESSIONS} sessions through tandem serve.`)

  // The Node API server opens (and so creates) the store and makes the projects.
  const server = new Child<ServerMessage>('server', join(here, 'server.ts'), env)
  await server.next('ready')
  const heard: Extract<ServerMessage, { type: 'heard' }>[] = []
  const closedHeard = new Tally()
  const listen = async (): Promise<void> => {
    for (;;) {
      const message = await server.next('heard')
      heard.push(message)
      if (message.version === 2) closedHeard.add()
    }
  }
  void listen().catch(() => undefined) // ends when the server exits

  // One token per role: the secret is printed once, on stdout.
  const token = async (role: string) =>
    (await runCli(['token', 'create', '--role', role, '--name', role], { cwd: here, env })).stdout.trim()
  const daemonToken = await token('daemon')
  const dashboardToken = await token('dashboard')

  // tandem serve on a Unix socket of the data folder; --json prints its url once it listens.
  const serve = startCli(['serve', '--socket', join(dataDir, 'tandem.sock'), '--json'], { cwd: here, env })
  const url = await new Promise<string>((resolve, reject) => {
    let out = ''
    serve.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk
      if (out.includes('\n')) resolve((JSON.parse(out) as { url: string }).url)
    })
    serve.stderr?.setEncoding('utf8').on('data', (chunk: string) => process.stderr.write(`[serve] ${chunk}`))
    serve.on('exit', (code) => reject(new Error(`tandem serve exited with ${code} before listening`)))
  })
  console.log(`tandem serve listens on ${url}`)

  const dashboard = python('dashboard.py', [url, dashboardToken, String(SESSIONS)])
  const daemon = python('daemon.py', [url, daemonToken, String(SESSIONS)])
  const [daemonCode, dashboardCode] = await Promise.all([daemon.exited, dashboard.exited])
  await closedHeard.reach(SESSIONS)
  server.send({ type: 'stop' })
  const { totals, fresh } = await server.next('done')
  await server.succeeded()

  const checks = new Checks()
  checks.check(daemonCode === 0 && dashboardCode === 0, `the Python daemon and dashboard exited with 0 (${daemonCode}, ${dashboardCode})`)
  const written = daemon.of('closed').map((m) => m.id as string)
  checks.check(written.length === SESSIONS, `the daemon wrote ${written.length} sessions, each started and closed (if_version)`)

  // The server heard each session twice, insert then close, and nothing else.
  const heardOf = (id: string) => heard.filter((h) => h.id === id).map((h) => h.version)
  const wrongServer = written.filter((id) => heardOf(id).join() !== '1,2')
  checks.check(
    wrongServer.length === 0 && heard.length === 2 * SESSIONS,
    `the Node server heard each session once started and once closed through the feed (${heard.length} changes, ${wrongServer.length} wrong)`,
  )
  const sameTotals = JSON.stringify(Object.entries(totals).sort()) === JSON.stringify(Object.entries(fresh).sort())
  checks.check(sameTotals, `the server's per-project totals kept from the feed equal the totals read from the store`)

  // The dashboard saw every change of the sessions once, in seq order, each session v1 then v2.
  const changes = dashboard.of('change')
  const seqs = changes.map((c) => c.seq as number)
  const inOrder = seqs.every((s, i) => i === 0 || s > seqs[i - 1]!)
  const wrongDashboard = written.filter(
    (id) =>
      changes
        .filter((c) => c.id === id)
        .map((c) => c.version)
        .join() !== '1,2',
  )
  checks.check(
    inOrder && wrongDashboard.length === 0 && changes.length === 2 * SESSIONS,
    `the Python dashboard tailed ${changes.length} changes over SSE, in order, each session started then closed (${wrongDashboard.length} wrong)`,
  )

  checks.check(
    daemon.of('refused')[0]?.code === 'NOT_OWNER',
    `the daemon's write to "projects" was refused with ${String(daemon.of('refused')[0]?.code)}`,
  )
  checks.check(
    dashboard.of('refused')[0]?.code === 'NOT_OWNER',
    `the dashboard's write to "sessions" was refused with ${String(dashboard.of('refused')[0]?.code)}`,
  )

  const doctor = parseCliJson<{ ok: boolean }>(await runCli(['doctor', '--json'], { cwd: here, env }))
  checks.check(doctor.ok, `tandem doctor: ${doctor.ok ? 'no problems' : 'problems found'}`)

  serve.kill('SIGTERM')
  await new Promise((resolve) => (serve.exitCode !== null ? resolve(null) : serve.once('exit', resolve)))
  await checks.finish(
    `${SESSIONS} sessions from a Python daemon through tandem serve; the Node server and the Python dashboard heard each once, in order; foreign writes refused with NOT_OWNER`,
  )
})
