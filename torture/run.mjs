#!/usr/bin/env node
// The torture run: starts the workers, the change-feed follower and the nemesis, lets them fight
// for --seconds (or until --until-ok transactions succeeded and every fault was injected),
// stops everything, reads the final state, and hands every log to the checker.
//
//   node torture/run.mjs --backend sqlite --durability normal --procs 4 --seconds 30 \
//     --faults kill9,checkpoint,restart [--seed N] [--kill-every-ms 1000] [--keep-dir] [--json]
//   node torture/run.mjs --backend sqlite --until-ok 5000 --until-faults kill9=10 [...]
//
// Exit codes: 0 no anomaly, 1 anomalies found (the run directory is kept), 2 the run could not
// happen (bad option, backend not available, a process that never started).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { BACKENDS } from './backends.mjs'
import { keyName } from './store.mjs'
import { emptyReport, readFinal, runChecker } from './finish.mjs'
import { compressFinished } from './log.mjs'
import { createRandom } from './random.mjs'
import { diskFree, diskUsed, drainedTo, logProgress, watchRun } from './watch.mjs'
import { formatReport } from './report.mjs'
import { Supervisor } from './supervisor.mjs'

const HERE = fileURLToPath(new URL('.', import.meta.url))
const PROCESS_FAULTS = ['kill9', 'restart']
/** A worker asked to stop that logs nothing for this long is stuck (reported as a hang). */
const HANG_MS = 15_000

const HELP = `Usage: node torture/run.mjs [options]

Runs random transactions from several processes while faults are injected, then checks the
whole history for anomalies (see docs/torture.md).

Options:
  --backend NAME           ${Object.keys(BACKENDS).join(' | ')} (default sqlite)
  --durability MODE        normal | full (default normal)
  --procs N                worker processes (default 4)
  --clients N              concurrent transaction loops per worker (default 2)
  --seconds S              how long the faults run (default 30)
  --until-ok N             instead of --seconds: the faults run until the workers have
                           completed N transactions ok and each fault was injected as often as
                           --until-faults asks, however long that takes
  --until-faults LIST      with --until-ok: minimum injections per fault, e.g. kill9=10,restart=2
                           (default: each fault of --faults at least once)
  --stall-seconds S        a run in which no transaction completes ok for S seconds (or, with
                           --until-ok, no fault it still waits for is injected for S seconds)
                           stops there and reports a health anomaly (default 60)
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
      'until-ok': { type: 'string' },
      'until-faults': { type: 'string' },
      'stall-seconds': { type: 'string' },
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
  if (!Object.hasOwn(BACKENDS, backend))
    throw new UsageError(`--backend must be one of ${Object.keys(BACKENDS).join(', ')} (got ${JSON.stringify(backend)}).`)
  const durability = values.durability ?? 'normal'
  if (durability !== 'normal' && durability !== 'full')
    throw new UsageError(`--durability must be normal or full (got ${JSON.stringify(durability)}).`)
  const known = [...PROCESS_FAULTS, ...Object.keys(BACKENDS[backend].faults)]
  const faultList = values.faults ?? 'kill9,checkpoint,restart'
  const faults = faultList === 'none' || faultList === '' ? [] : [...new Set(faultList.split(',').map((f) => f.trim()))]
  for (const f of faults)
    if (!known.includes(f))
      throw new UsageError(`--faults: "${f}" is not a fault of backend ${backend}; choose from ${known.join(', ')} (or "none").`)
  const faultEveryMs =
    values['fault-every-ms'] === undefined
      ? {}
      : Object.fromEntries(Object.keys(BACKENDS[backend].faults).map((f) => [f, integer(values, 'fault-every-ms', 0, 1)]))
  let until
  if (values['until-ok'] !== undefined) {
    if (values.seconds !== undefined)
      throw new UsageError('--seconds and --until-ok cannot go together: a run lasts a time or until a number of transactions.')
    const faultTargets = Object.fromEntries(faults.map((f) => [f, 1]))
    for (const item of (values['until-faults'] ?? '')
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x !== '')) {
      const [name, count = '1'] = item.split('=')
      const n = Number(count)
      if (!faults.includes(name)) throw new UsageError(`--until-faults: "${name}" is not in --faults (${faults.join(',') || 'none'}).`)
      if (!Number.isInteger(n) || n < 0)
        throw new UsageError(`--until-faults: ${JSON.stringify(item)} needs a count of at least 0, as in ${name}=10.`)
      faultTargets[name] = n
    }
    until = { ok: integer(values, 'until-ok', 1, 1), faults: faultTargets }
  } else if (values['until-faults'] !== undefined) {
    throw new UsageError('--until-faults goes with --until-ok.')
  }
  return {
    backend,
    durability,
    procs: integer(values, 'procs', 4, 1),
    clients: integer(values, 'clients', 2, 1),
    seconds: until === undefined ? integer(values, 'seconds', 30, 1) : undefined,
    until,
    stallSeconds: integer(values, 'stall-seconds', 60, 1),
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

const MB = 1024 * 1024

/** Bytes of free disk a run needs before it starts: logs (compressed as they go) and the store. */
function diskNeeded(options) {
  const seconds = options.seconds ?? 600
  return 1024 * MB + seconds * options.procs * 0.3 * MB
}

/** Runs one torture run and resolves with { report, exitCode, dir }. */
export async function runTorture(options, progress = (line) => process.stderr.write(`${line}\n`)) {
  const backend = BACKENDS[options.backend]
  const unavailable = await backend.available()
  if (unavailable !== undefined) return { exitCode: 2, error: `${options.backend}: ${unavailable.reason}` }

  const dir = options.dir === undefined ? mkdtempSync(join(tmpdir(), 'tandem-torture-')) : resolve(options.dir)
  const logs = join(dir, 'logs')
  mkdirSync(logs, { recursive: true })
  const free = diskFree(dir)
  if (free < diskNeeded(options)) {
    if (options.dir === undefined) rmSync(dir, { recursive: true, force: true })
    return {
      exitCode: 2,
      error: `${dir} has ${(free / MB).toFixed(0)} MB free; a run of ${options.seconds ?? '?'} s on ${options.procs} workers needs about ${(diskNeeded(options) / MB).toFixed(0)} MB (logs and store). Free some disk, or choose another --dir.`,
    }
  }
  const location = await backend.create(dir, options.seed)
  const store = { backend: options.backend, location, durability: options.durability }
  const startNs = String(process.hrtime.bigint())
  const random = createRandom(`${options.seed}/runner`)
  const common = { startNs, store, seed: options.seed, fsync: options.fsync }
  writeFileSync(
    join(dir, 'run.json'),
    `${JSON.stringify({ ...options, startNs, location, startedAt: new Date().toISOString() }, null, 2)}\n`,
  )
  const length =
    options.until === undefined
      ? `${options.seconds} s`
      : `until ${options.until.ok} transactions ok and faults ${
          Object.entries(options.until.faults)
            .map(([f, n]) => `${f} ${n}`)
            .join(', ') || 'none'
        }`
  progress(
    `torture: ${options.backend}, durability ${options.durability}, ${options.procs} workers x ${options.clients} clients, ${length}, faults ${options.faults.join(',') || 'none'}, seed ${options.seed}, dir ${dir}`,
  )

  // Processes: the nemesis (not restarted), then the follower and the workers (restarted when killed).
  const { fork } = await import('node:child_process')
  const nemesis = fork(
    join(HERE, 'nemesis.mjs'),
    [
      JSON.stringify({
        ...common,
        log: join(logs, 'nemesis.log'),
        backend: options.backend,
        location,
        faults: options.faults,
        killEveryMs: options.killEveryMs,
        restartEveryMs: options.restartEveryMs,
        everyMs: options.faultEveryMs,
      }),
    ],
    { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], execArgv: [] },
  )
  let nemesisErr = ''
  nemesis.stderr.setEncoding('utf8').on('data', (c) => (nemesisErr = (nemesisErr + c).slice(-4000)))
  nemesis.on('error', () => undefined)
  const nemesisExit = new Promise((r) => nemesis.once('close', (code, signal) => r({ code, signal })))
  const supervisor = new Supervisor({ random, onTargets: (targets) => nemesis.connected && nemesis.send({ type: 'targets', targets }) })

  const followerArgs = (drainTo) => (incarnation) => ({
    ...common,
    name: 'follower',
    incarnation,
    log: join(logs, 'follower.log'),
    ...(drainTo === undefined ? {} : { drainTo }),
  })
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
  const ran = await watchRun({
    dir,
    logs,
    store,
    location,
    backend,
    workers,
    seconds: options.seconds,
    until: options.until,
    stallMs: options.stallSeconds * 1000,
    supervisor,
    progress,
    health,
  })

  // Stop: faults first, then the workers (gracefully, so what they have in flight settles).
  const phases = {}
  let phaseStart = performance.now()
  const phase = (name) => {
    phases[name] = Math.round(performance.now() - phaseStart)
    phaseStart = performance.now()
  }
  const stopAt = Number((process.hrtime.bigint() - BigInt(startNs)) / 1000n)
  if (nemesis.connected) nemesis.send({ type: 'stop' })
  // The nemesis finishes the fault in hand (a PostgreSQL CHECKPOINT can take a while on a busy machine).
  const nemesisEnd = await Promise.race([
    nemesisExit,
    sleep(60_000).then(() => (nemesis.kill('SIGKILL'), { code: null, signal: 'timeout' })),
  ])
  if (nemesisEnd.code !== 0)
    health.push({
      what: 'nemesis',
      detail: `the nemesis ended with code ${nemesisEnd.code}, signal ${nemesisEnd.signal}: ${nemesisErr.trim()}`,
    })
  supervisor.freeze()
  // A worker asked to stop finishes what it has in flight, logging each outcome; one whose log
  // does not move for HANG_MS is stuck.
  await supervisor.stop(workers, HANG_MS, (name) => logProgress(join(logs, `${name}.log`)))
  phase('stopMs')

  // The final state, read through the public API by a fresh process-like opener, a page of keys at
  // a time into final.jsonl (one record a line, in key order), so however long the run, neither
  // the runner nor the checker holds every record at once.
  let final
  try {
    final = await readFinal(
      store,
      join(dir, 'final.jsonl'),
      keyName(Math.ceil((ran.seconds * 1000 + 60_000) / options.keyShiftMs) + options.keys),
    )
  } catch (error) {
    health.push({
      what: 'final read',
      detail: `the store could not be opened or read after the run: ${error?.code ?? ''} ${error?.message ?? error}`,
    })
  }
  if (final !== undefined) {
    writeFileSync(join(dir, 'final.json'), `${JSON.stringify(final)}\n`)
    if (final.unread > 0) health.push({ what: 'final read', detail: `${final.unread} records have ids outside the keys the run used` })
    if (final.integrity.length !== 1 || final.integrity[0] !== 'ok')
      health.push({ what: 'integrity', detail: `integrity check: ${final.integrity.slice(0, 5).join('; ')}` })
    phase('finalReadMs')
    // The follower must get every change up to the final head: drain it (start it once more if it
    // is down). A fault that struck just before the freeze — a restart stopping it, a kill — can end
    // it before it drained: start it again, a few times at most, until it logs its end at the head.
    const followerLog = join(logs, 'follower.log')
    for (let attempt = 0; attempt < 3 && !drainedTo(followerLog, final.head); attempt++) {
      if (supervisor.isRunning('follower')) supervisor.sendUntilExit('follower', { type: 'drain', head: final.head })
      else supervisor.revive('follower', followerArgs(final.head))
      // However long the feed is: the follower logs each change it gets, and only a follower whose
      // log stops moving for a minute is stuck.
      if (await supervisor.waitFor('follower', 60_000, () => logProgress(followerLog))) {
        health.push({ what: 'hang', detail: 'the follower, draining the change feed, logged nothing for 60 s and was killed' })
        break
      }
    }
    phase('drainMs')
  } else {
    await supervisor.stop(['follower'], 5_000)
  }
  // Exit code 70 is a crash the process logged itself (with its error): the checker reads it there.
  for (const crash of supervisor.crashes.filter((c) => c.code !== 70)) {
    health.push({
      what: 'crash',
      detail: `${crash.name} (incarnation ${crash.incarnation}) died on its own: code ${crash.code}, signal ${crash.signal}${crash.stderr ? `: ${crash.stderr.slice(-800)}` : ''}`,
    })
  }

  // Every process has stopped: each log's last segment is finished too.
  for (const name of [...workers, 'follower', 'nemesis']) await compressFinished(join(logs, `${name}.log`), Infinity, { all: true })
  const diskBytes = Math.max(ran.peakDiskBytes, diskUsed(dir))
  progress(`torture: checking ${dir}`)
  writeFileSync(join(dir, 'health.json'), `${JSON.stringify({ health, stragglers: supervisor.stragglers, stopAt, hangMs: HANG_MS })}\n`)
  const checked = await runChecker(dir)
  const report = checked.report ?? emptyReport(health, checked.error)
  phase('checkMs')
  report.run = {
    backend: options.backend,
    durability: options.durability,
    procs: options.procs,
    clients: options.clients,
    seconds: ran.seconds,
    ...(options.until === undefined ? {} : { until: options.until }),
    seed: options.seed,
    faults: options.faults,
    killEveryMs: options.killEveryMs,
    findInTransaction: options.findInTransaction,
    dir,
    processesKilled: supervisor.kills,
    restarts: supervisor.restarts,
    phases,
    transactionsInvoked: ran.invoked,
    changesTrimmed: ran.changesTrimmed,
    peakStoreBytes: ran.peakStoreBytes,
    diskBytes,
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
  if (options.json)
    process.stderr.write(
      `torture: ${report.anomalyCount === 0 ? 'no anomaly' : `${report.anomalyCount} anomalies`}${report.run.dir ? `; logs kept in ${report.run.dir}` : ''}\n`,
    )
  process.exit(exitCode)
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    process.stderr.write(`torture: the run failed: ${error?.stack ?? error}\n`)
    process.exit(2)
  })
}
