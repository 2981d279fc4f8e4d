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
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { BACKENDS } from './backends.mjs'
import { keyName } from './store.mjs'
import { ANOMALY_CLASSES } from './checks/anomalies.mjs'
import { FeedStream } from './checks/feed-stream.mjs'
import { compressFinished } from './log.mjs'
import { createRandom } from './random.mjs'
import { LogTail, compressBehind, diskFree, diskUsed, drainedTo, logProgress, trimToAcked } from './watch.mjs'
import { formatReport } from './report.mjs'
import { openTortureStore } from './store.mjs'
import { Supervisor } from './supervisor.mjs'
import { COLLECTION } from './store.mjs'

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
const PROGRESS_MS = 10_000
const TRIM_EVERY_MS = 20_000

/**
 * Watches the run while the faults go on: counts the transactions the workers started and
 * completed ok (their logs' 'inv' and 'ok' lines, as the checker will), the changes the follower
 * got and acknowledged, and the faults the nemesis injected (its log). Meanwhile it compresses the
 * log segments it has read and trims the change log up to the follower's acknowledged seq.
 * Resolves when the run should stop: after `seconds`, or once the `until` targets are met, or at a
 * stall (no transaction ok for `stallMs`; with `until`, no awaited fault for `stallMs` either),
 * which it reports in `health`.
 */
async function watchRun({ dir, logs, workers, seconds, until, stallMs, supervisor, progress, health, store, location, backend }) {
  const tails = new Map(workers.map((name) => [join(logs, `${name}.log`), new LogTail(join(logs, `${name}.log`))]))
  const followerPath = join(logs, 'follower.log')
  const nemesisPath = join(logs, 'nemesis.log')
  tails.set(followerPath, new LogTail(followerPath))
  tails.set(nemesisPath, new LogTail(nemesisPath))
  // The feed's stream checks run live; everything else needs the final state and runs at the end.
  const early = []
  const feed = new FeedStream({ report: (name, message) => early.push(`${name}: ${message}`), gapFreeSeq: backend.gapFreeSeq })
  const faults = {}
  let ok = 0
  let invoked = 0
  let changes = 0
  let acked = 0
  let trimmed = 0
  let storeBytes = 0
  let peakStoreBytes = 0
  let peakDiskBytes = 0
  const started = performance.now()
  let lastOkAt = started
  let lastFaultAt = started
  let nextReport = started + PROGRESS_MS
  let nextTrim = started + TRIM_EVERY_MS
  const faultsMissing = () =>
    until === undefined
      ? []
      : Object.entries(until.faults)
          .filter(([f, n]) => (faults[f] ?? 0) < n)
          .map(([f, n]) => `${f} ${faults[f] ?? 0} of ${n}`)
  const summary = () =>
    `${invoked} transactions (${ok} ok), ${supervisor.kills} processes killed, faults ${
      Object.entries(faults)
        .map(([f, n]) => `${f} ${n}`)
        .join(', ') || 'none'
    }`
  const measure = async () => {
    storeBytes = await backend.size(location).catch(() => storeBytes)
    peakStoreBytes = Math.max(peakStoreBytes, storeBytes)
    const disk = diskUsed(dir) + (location.dataDir?.startsWith(dir) ? 0 : storeBytes)
    peakDiskBytes = Math.max(peakDiskBytes, disk)
    return disk
  }
  try {
    for (;;) {
      await sleep(250)
      const now = performance.now()
      const okBefore = ok
      for (const name of workers)
        tails.get(join(logs, `${name}.log`)).read((line) => {
          if (line.startsWith('{"t":"ok"')) ok++
          else if (line.startsWith('{"t":"inv"')) invoked++
        })
      if (ok > okBefore) lastOkAt = now
      tails.get(followerPath).read((line) => {
        let entry
        try {
          entry = JSON.parse(line)
        } catch {
          return // A torn line: the checker counts it.
        }
        if (entry.t === 'ch') changes++
        else if (entry.t === 'ack') acked = Math.max(acked, entry.seq)
        feed.entry(entry)
      })
      tails.get(nemesisPath).read((line) => {
        if (!line.startsWith('{"t":"fault"')) return
        const { f } = JSON.parse(line)
        faults[f] = (faults[f] ?? 0) + 1
        lastFaultAt = now
      })
      await compressBehind(tails)
      const elapsed = (now - started) / 1000
      if (until === undefined ? elapsed >= seconds : ok >= until.ok && faultsMissing().length === 0) break
      if (now - lastOkAt >= stallMs) {
        health.push({
          what: 'stall',
          detail: `no transaction completed ok for ${Math.round((now - lastOkAt) / 1000)} s, ${elapsed.toFixed(0)} s into the run (${summary()}); the run stopped there`,
        })
        break
      }
      if (faultsMissing().length > 0 && now - lastFaultAt >= stallMs) {
        health.push({
          what: 'stall',
          detail: `no fault injected for ${Math.round((now - lastFaultAt) / 1000)} s while the run still waited for ${faultsMissing().join(', ')} (${summary()}); the run stopped there`,
        })
        break
      }
      if (now >= nextTrim && acked > 0) {
        nextTrim = now + TRIM_EVERY_MS
        // A trim that fails (a fault hit the trimmer's connection) is simply tried again next time.
        trimmed += await trimToAcked(store, acked).then(
          (r) => r.trimmed,
          () => 0,
        )
      }
      if (now >= nextReport) {
        nextReport += PROGRESS_MS
        const disk = await measure()
        progress(
          `torture: ${elapsed.toFixed(0)} s, ${summary()}; follower ${changes} changes, acked seq ${acked}; anomalies so far ${early.length} (feed stream; the rest are checked at the end)${early.length > 0 ? `, the first: ${early[0]}` : ''}; change log trimmed by ${trimmed}; store ${(storeBytes / MB).toFixed(0)} MB, disk ${(disk / MB).toFixed(0)} MB`,
        )
      }
    }
  } finally {
    for (const tail of tails.values()) tail.close()
  }
  await measure()
  return {
    seconds: Math.round((performance.now() - started) / 100) / 10,
    ok,
    invoked,
    faults,
    peakStoreBytes,
    peakDiskBytes,
    changesTrimmed: trimmed,
  }
}

/** Bytes of free disk a run needs before it starts: logs (compressed as they go) and the store. */
function diskNeeded(options) {
  const seconds = options.seconds ?? 600
  return 1024 * MB + seconds * options.procs * 0.3 * MB
}

/**
 * Reads every record, a page of ids at a time, into `path` (JSON lines in id order), and returns
 * { head, integrity, records: count, unread } (unread: records with ids beyond `lastId`).
 */
async function readFinal(store, path, lastId) {
  const checker = await openTortureStore(store, 'checker')
  try {
    const kv = checker.collection(COLLECTION)
    const out = createWriteStream(path)
    const PAGE_KEYS = 500
    let count = 0
    for (let lo = 0; keyName(lo) < lastId; lo += PAGE_KEYS) {
      const page = await kv.find({ where: { $id: { gte: keyName(lo), lt: keyName(lo + PAGE_KEYS) } } })
      page.sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0))
      for (const r of page) {
        const line = `${JSON.stringify({ id: r.id, v: r.version, l: r.data.l, n: r.data.n, a: r.data.a, b: r.data.b })}\n`
        if (!out.write(line)) await new Promise((r) => out.once('drain', r))
        count++
      }
    }
    await new Promise((resolve, reject) => out.end((error) => (error ? reject(error) : resolve())))
    const total = await kv.count()
    const description = await checker.describe()
    const integrity = await checker.checkIntegrity()
    return { head: description.changes.head, integrity, records: count, unread: total - count }
  } finally {
    await checker.close()
  }
}

/**
 * Runs the checker over the run directory in a process of its own (node torture/checker.mjs),
 * so its peak memory is its own and it loads the checker as it is when the run ends. Resolves with
 * { report } or { error }.
 */
async function runChecker(dir) {
  const { spawn } = await import('node:child_process')
  const child = spawn(process.execPath, [join(HERE, 'checker.mjs'), dir, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', (c) => (out += c))
  child.stderr.setEncoding('utf8').on('data', (c) => (err = (err + c).slice(-4000)))
  const { code, signal } = await new Promise((r) => child.once('close', (code, signal) => r({ code, signal })))
  try {
    if (code === 0 || code === 1) return { report: JSON.parse(out) }
  } catch {
    // Fall through: reported below.
  }
  return { error: `the checker ended with code ${code}, signal ${signal}: ${err.trim().slice(-1500)}` }
}

/** The report of a run whose checker gave no verdict: its failure, under health. */
function emptyReport(health, error) {
  const anomalies = Object.fromEntries(Object.keys(ANOMALY_CLASSES).map((name) => [name, { count: 0, examples: [] }]))
  for (const problem of [...health, { what: 'checker', detail: error }]) {
    anomalies.health.count++
    if (anomalies.health.examples.length < 3) anomalies.health.examples.push({ message: `${problem.what}: ${problem.detail}`, ops: [] })
  }
  return {
    anomalies,
    anomalyCount: anomalies.health.count,
    counts: { transactions: 0, ok: 0, failed: 0, unknown: 0, failedBy: {}, unknownBy: {}, microOps: 0 },
    feed: { complete: false, changes: 0, interruptions: 0 },
    faults: {},
  }
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
