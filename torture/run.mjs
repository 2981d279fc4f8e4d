#!/usr/bin/env node
// The torture run: starts the workers, the change-feed follower and the nemesis, lets them fight
// for --seconds, stops everything, reads the final state, and hands every log to the checker.
//
//   node torture/run.mjs --backend sqlite --durability normal --procs 4 --seconds 30 \
//     --faults kill9,checkpoint,restart [--seed N] [--kill-every-ms 1000] [--keep-dir] [--json]
//
// Exit codes: 0 no anomaly, 1 anomalies found (the run directory is kept), 2 the run could not
// happen (bad option, backend not available, a process that never started).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { BACKENDS } from './backends.mjs'
import { check } from './checker.mjs'
import { loadHistory } from './history.mjs'
import { createRandom } from './random.mjs'
import { formatReport } from './report.mjs'
import { openTortureStore } from './store.mjs'
import { Supervisor } from './supervisor.mjs'
import { COLLECTION } from './store.mjs'

const HERE = fileURLToPath(new URL('.', import.meta.url))
const PROCESS_FAULTS = ['kill9', 'restart']

const HELP = `Usage: node torture/run.mjs [options]

Runs random transactions from several processes while faults are injected, then checks the
whole history for anomalies (see docs/torture.md).

Options:
  --backend NAME           ${Object.keys(BACKENDS).join(' | ')} (default sqlite)
  --durability MODE        normal | full (default normal)
  --procs N                worker processes (default 4)
  --clients N              concurrent transaction loops per worker (default 2)
  --seconds S              how long the faults run (default 30)
  --faults LIST            comma-separated: kill9, restart, and the backend's own
                           (sqlite: checkpoint; postgres: checkpoint, terminate); "none" for none
                           (default kill9,checkpoint,restart)
  --kill-every-ms MS       mean interval between two kill9 faults (default 1000)
  --restart-every-ms MS    mean interval between two restart faults (default 8000)
  --fault-every-ms MS      mean interval of the backend's faults (default: theirs)
  --keys N                 keys in use at any moment (default 10)
  --key-shift-ms MS        one key retires and a new one starts this often (default 100)
  --skip-find-in-tx         never call find() inside store.transaction() (a backend that
                           does not isolate it, listed in docs/torture.md)
  --seed N                 replay the same random choices (default: random)
  --dir PATH               where logs and the store go (default: a new temp directory)
  --keep-dir               keep that directory even when no anomaly is found
  --log-fsync              fsync every log line (only matters on a machine that may lose power)
  --json                   the report as one JSON document on stdout; progress on stderr
  -h, --help

Exit codes: 0 no anomaly, 1 anomalies found, 2 the run could not happen.`

class UsageError extends Error {}

function integer(options, name, fallback, min) {
  const raw = options[name]
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer of at least ${min} (got ${JSON.stringify(raw)}).`)
  return n
}

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      backend: { type: 'string' },
      durability: { type: 'string' },
      procs: { type: 'string' },
      clients: { type: 'string' },
      seconds: { type: 'string' },
      faults: { type: 'string' },
      'kill-every-ms': { type: 'string' },
      'restart-every-ms': { type: 'string' },
      'fault-every-ms': { type: 'string' },
      keys: { type: 'string' },
      'key-shift-ms': { type: 'string' },
      seed: { type: 'string' },
      'skip-find-in-tx': { type: 'boolean' },
      dir: { type: 'string' },
      'keep-dir': { type: 'boolean' },
      'log-fsync': { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) return { help: true }
  const backend = values.backend ?? 'sqlite'
  if (!Object.hasOwn(BACKENDS, backend)) throw new UsageError(`--backend must be one of ${Object.keys(BACKENDS).join(', ')} (got ${JSON.stringify(backend)}).`)
  const durability = values.durability ?? 'normal'
  if (durability !== 'normal' && durability !== 'full') throw new UsageError(`--durability must be normal or full (got ${JSON.stringify(durability)}).`)
  const known = [...PROCESS_FAULTS, ...Object.keys(BACKENDS[backend].faults)]
  const faultList = values.faults ?? 'kill9,checkpoint,restart'
  const faults = faultList === 'none' || faultList === '' ? [] : [...new Set(faultList.split(',').map((f) => f.trim()))]
  for (const f of faults) if (!known.includes(f)) throw new UsageError(`--faults: "${f}" is not a fault of backend ${backend}; choose from ${known.join(', ')} (or "none").`)
  const faultEveryMs = values['fault-every-ms'] === undefined ? {} : Object.fromEntries(Object.keys(BACKENDS[backend].faults).map((f) => [f, integer(values, 'fault-every-ms', 0, 1)]))
  return {
    backend,
    durability,
    procs: integer(values, 'procs', 4, 1),
    clients: integer(values, 'clients', 2, 1),
    seconds: integer(values, 'seconds', 30, 1),
    faults,
    killEveryMs: integer(values, 'kill-every-ms', 1000, 10),
    restartEveryMs: integer(values, 'restart-every-ms', 8000, 100),
    faultEveryMs,
    keys: integer(values, 'keys', 10, 1),
    keyShiftMs: integer(values, 'key-shift-ms', 100, 1),
    seed: integer(values, 'seed', Math.floor(Math.random() * 2 ** 31), 0),
    findInTransaction: !(values['skip-find-in-tx'] ?? false),
    dir: values.dir,
    keepDir: values['keep-dir'] ?? false,
    fsync: values['log-fsync'] ?? false,
    json: values.json ?? false,
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Runs one torture run and resolves with { report, exitCode, dir }. */
export async function runTorture(options, progress = (line) => process.stderr.write(`${line}\n`)) {
  const backend = BACKENDS[options.backend]
  const unavailable = await backend.available()
  if (unavailable !== undefined) return { exitCode: 2, error: `${options.backend}: ${unavailable.reason}` }

  const dir = options.dir === undefined ? mkdtempSync(join(tmpdir(), 'tandem-torture-')) : resolve(options.dir)
  const logs = join(dir, 'logs')
  mkdirSync(logs, { recursive: true })
  const location = await backend.create(dir, options.seed)
  const store = { backend: options.backend, location, durability: options.durability }
  const startNs = String(process.hrtime.bigint())
  const random = createRandom(`${options.seed}/runner`)
  const common = { startNs, store, seed: options.seed, fsync: options.fsync }
  writeFileSync(join(dir, 'run.json'), `${JSON.stringify({ ...options, startNs, location, startedAt: new Date().toISOString() }, null, 2)}\n`)
  progress(`torture: ${options.backend}, durability ${options.durability}, ${options.procs} workers x ${options.clients} clients, ${options.seconds} s, faults ${options.faults.join(',') || 'none'}, seed ${options.seed}, dir ${dir}`)

  // Processes: the nemesis (not restarted), then the follower and the workers (restarted when killed).
  const { fork } = await import('node:child_process')
  const nemesis = fork(join(HERE, 'nemesis.mjs'), [JSON.stringify({
    ...common,
    log: join(logs, 'nemesis.log'),
    backend: options.backend,
    location,
    faults: options.faults,
    killEveryMs: options.killEveryMs,
    restartEveryMs: options.restartEveryMs,
    everyMs: options.faultEveryMs,
  })], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], execArgv: [] })
  let nemesisErr = ''
  nemesis.stderr.setEncoding('utf8').on('data', (c) => (nemesisErr = (nemesisErr + c).slice(-4000)))
  nemesis.on('error', () => undefined)
  const nemesisExit = new Promise((r) => nemesis.once('close', (code, signal) => r({ code, signal })))
  const supervisor = new Supervisor({ random, onTargets: (targets) => nemesis.connected && nemesis.send({ type: 'targets', targets }) })

  const followerArgs = (drainTo) => (incarnation) => ({ ...common, name: 'follower', incarnation, log: join(logs, 'follower.log'), ...(drainTo === undefined ? {} : { drainTo }) })
  supervisor.start('follower', join(HERE, 'follower.mjs'), followerArgs())
  const workers = Array.from({ length: options.procs }, (_, i) => `w${i + 1}`)
  for (const name of workers) {
    supervisor.start(name, join(HERE, 'worker.mjs'), (incarnation) => ({
      ...common,
      name,
      incarnation,
      log: join(logs, `${name}.log`),
      clients: options.clients,
      keys: options.keys,
      keyShiftMs: options.keyShiftMs,
      findInTransaction: options.findInTransaction,
    }))
  }

  const health = []
  for (let left = options.seconds; left > 0; left -= 10) {
    await sleep(Math.min(10, left) * 1000)
    if (left > 10) progress(`torture: ${options.seconds - left + 10} s, ${supervisor.kills} processes killed so far`)
  }

  // Stop: faults first, then the workers (gracefully, so what they have in flight settles).
  const phases = {}
  let phaseStart = performance.now()
  const phase = (name) => {
    phases[name] = Math.round(performance.now() - phaseStart)
    phaseStart = performance.now()
  }
  const stopAt = Number((process.hrtime.bigint() - BigInt(startNs)) / 1000n)
  if (nemesis.connected) nemesis.send({ type: 'stop' })
  const nemesisEnd = await Promise.race([nemesisExit, sleep(15_000).then(() => (nemesis.kill('SIGKILL'), { code: null, signal: 'timeout' }))])
  if (nemesisEnd.code !== 0) health.push({ what: 'nemesis', detail: `the nemesis ended with code ${nemesisEnd.code}, signal ${nemesisEnd.signal}: ${nemesisErr.trim()}` })
  supervisor.freeze()
  await supervisor.stop(workers, 15_000)
  phase('stopMs')

  // The final state, read through the public API by a fresh process-like opener.
  let final
  try {
    const checker = await openTortureStore(store, 'checker')
    try {
      const records = {}
      for (const r of await checker.collection(COLLECTION).find()) records[r.id] = { v: r.version, l: r.data.l, n: r.data.n, a: r.data.a, b: r.data.b }
      const description = await checker.describe()
      const integrity = await checker.checkIntegrity()
      final = { head: description.changes.head, records, integrity }
    } finally {
      await checker.close()
    }
  } catch (error) {
    health.push({ what: 'final read', detail: `the store could not be opened or read after the run: ${error?.code ?? ''} ${error?.message ?? error}` })
  }
  if (final !== undefined) {
    writeFileSync(join(dir, 'final.json'), `${JSON.stringify(final)}\n`)
    if (final.integrity.length !== 1 || final.integrity[0] !== 'ok') health.push({ what: 'integrity', detail: `integrity check: ${final.integrity.slice(0, 5).join('; ')}` })
    phase('finalReadMs')
    // The follower must get every change up to the final head: drain it (start it once more if it is down).
    if (supervisor.isRunning('follower')) supervisor.sendUntilExit('follower', { type: 'drain', head: final.head })
    else supervisor.revive('follower', followerArgs(final.head))
    await supervisor.waitFor('follower', 60_000)
    phase('drainMs')
  } else {
    await supervisor.stop(['follower'], 5_000)
  }
  // Exit code 70 is a crash the process logged itself (with its error): the checker reads it there.
  for (const crash of supervisor.crashes.filter((c) => c.code !== 70)) {
    health.push({ what: 'crash', detail: `${crash.name} (incarnation ${crash.incarnation}) died on its own: code ${crash.code}, signal ${crash.signal}${crash.stderr ? `: ${crash.stderr.slice(-800)}` : ''}` })
  }

  progress(`torture: checking ${dir}`)
  const history = await loadHistory(dir)
  // A worker that did not finish its transaction in 15 s once asked to stop is stuck: a hang.
  for (const { name, incarnation } of supervisor.stragglers) {
    const pending = history.ops.filter((op) => op.session.startsWith(`${name}.${incarnation}.`) && op.status === 'unknown' && op.error === undefined)
    const oldest = pending.map((op) => `${op.id} (invoked ${((stopAt - op.inv) / 1e6).toFixed(1)} s before the stop: ${op.txn.map((m) => `${m.f} ${m.k ?? ''}`).join(', ')})`)
    health.push({ what: 'hang', detail: `${name} (incarnation ${incarnation}) did not stop within 15 s and was killed; pending: ${oldest.join('; ') || 'no transaction (stuck outside one)'}` })
  }
  history.health.push(...health)
  const report = check(history, { gapFreeSeq: backend.gapFreeSeq })
  phase('checkMs')
  report.run = {
    backend: options.backend,
    durability: options.durability,
    procs: options.procs,
    clients: options.clients,
    seconds: options.seconds,
    seed: options.seed,
    faults: options.faults,
    killEveryMs: options.killEveryMs,
    findInTransaction: options.findInTransaction,
    dir,
    processesKilled: supervisor.kills,
    restarts: supervisor.restarts,
    phases,
  }
  writeFileSync(join(dir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`)
  const anomalous = report.anomalyCount > 0
  if (!anomalous && !options.keepDir) {
    await backend.destroy(location).catch(() => undefined)
    rmSync(dir, { recursive: true, force: true })
    report.run.dir = null
  }
  return { report, exitCode: anomalous ? 1 : 0, dir }
}

async function main() {
  let options
  try {
    options = parseOptions(process.argv.slice(2))
  } catch (error) {
    process.stderr.write(`${error.message}\nRun with --help for the options.\n`)
    process.exit(2)
  }
  if (options.help) {
    process.stdout.write(`${HELP}\n`)
    process.exit(0)
  }
  const { report, exitCode, error } = await runTorture(options)
  if (error !== undefined) {
    const hint = 'Build the backend (npm run build) and start its server, or choose another --backend.'
    if (options.json) process.stdout.write(`${JSON.stringify({ error: { code: 'BACKEND_NOT_AVAILABLE', message: error, hint } })}\n`)
    process.stderr.write(`torture: ${error}\n`)
    process.exit(exitCode)
  }
  if (options.json) process.stdout.write(`${JSON.stringify(report)}\n`)
  else process.stdout.write(formatReport(report))
  if (options.json) process.stderr.write(`torture: ${report.anomalyCount === 0 ? 'no anomaly' : `${report.anomalyCount} anomalies`}${report.run.dir ? `; logs kept in ${report.run.dir}` : ''}\n`)
  process.exit(exitCode)
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    process.stderr.write(`torture: the run failed: ${error?.stack ?? error}\n`)
    process.exit(2)
  })
}
