// The benchmark suite: `npm run bench` (builds, then runs this file).
//
//   node bench/index.mjs [single] [concurrent] [contention] [changes] [after-transaction] [files] [reads] [--json]
//   node bench/index.mjs --pg [pg-contention] [pg-inserts] [pg-changes] [pg-updates] [pg-reads] [...]
//
// Runs the named benchmarks (default: all) on real files in a private temp directory, each
// against raw better-sqlite3 measured in the same run, and prints one table: Tandem's figure, the
// raw baseline, their ratio, the goal and PASS/MISS. Progress goes to stderr; with --json the
// results go to stdout as one JSON document. A MISS does not fail the run (timings on a shared
// machine are noisy); an error does, and so does a lost update in the contention benchmark.
// --pg adds the PostgreSQL benchmarks (bench/pg-*.mjs: Tandem on PostgreSQL against raw
// node-postgres, at TANDEM_PG_URL or postgres://postgres@127.0.0.1:5432/test), each in a schema
// of its own that it drops afterwards.
import { cpus, platform, release } from 'node:os'
import Database from 'better-sqlite3'
import { changeLatency } from './change-latency.mjs'
import { runConcurrentInsert } from './concurrent-insert.mjs'
import { runContention } from './contention.mjs'
import { runAfterTransaction } from './after-transaction.mjs'
import { log, printTable, resultRow, tempDir } from './lib.mjs'
import { runSingleInsert } from './single-insert.mjs'
import { runFiles } from './files.mjs'
import { runReads } from './reads.mjs'

/** The change-feed latency benchmark (change-latency.mjs) prints its own table; here it becomes one row. */
async function runChangeLatency() {
  const print = console.log
  console.log = console.error // Keep stdout for the summary (and for --json).
  let result
  try {
    result = await changeLatency()
  } finally {
    console.log = print
  }
  const [tandem, poll, , floor] = result.results
  const figure = (r) => `p50 ${r.p50.toFixed(2)} / p99 ${r.p99.toFixed(2)} ms`
  return {
    rows: [
      resultRow({
        name: '4. change feed: commit -> other process sees it',
        tandem: `${figure(tandem)}, ${tandem.missed} missed, idle CPU ${(tandem.idleCpu * 100).toFixed(2)}%`,
        raw: `${figure(poll)} (poll 1 ms); machine floor, a pipe message: ${figure(floor)}`,
        ratio: '',
        goal: 'p50 <= 0.2, p99 <= 1 ms, 0 missed, idle < 1%',
        pass: result.pass,
      }),
    ],
    details: result.results,
  }
}

const BENCHMARKS = {
  single: runSingleInsert,
  concurrent: runConcurrentInsert,
  contention: runContention,
  changes: runChangeLatency,
  'after-transaction': runAfterTransaction,
  files: runFiles,
  reads: runReads,
}
/** Loaded only with --pg: they need the pg package and a server. */
const PG_BENCHMARKS = {
  'pg-contention': async () => (await import('./pg-contention.mjs')).runPostgresContention(),
  'pg-inserts': async () => (await import('./pg-concurrent-insert.mjs')).runPostgresConcurrentInsert(),
  'pg-changes': async () => (await import('./pg-change-latency.mjs')).runPostgresChangeLatency(),
  'pg-updates': async () => (await import('./pg-concurrent-update.mjs')).runPostgresConcurrentUpdate(),
  'pg-reads': async () => (await import('./pg-reads.mjs')).runPostgresReads(),
}

function parseArgs(argv) {
  const json = argv.includes('--json')
  // `npm run bench --pg` (without --) reaches us as npm's config variable, not as an argument.
  const pg = argv.includes('--pg') || process.env.npm_config_pg === 'true'
  const names = argv.filter((a) => a !== '--json' && a !== '--pg')
  const known = pg ? { ...BENCHMARKS, ...PG_BENCHMARKS } : BENCHMARKS
  for (const name of names) {
    if (name in PG_BENCHMARKS && !pg) throw new TypeError(`"${name}" is a PostgreSQL benchmark: pass --pg too.`)
    if (!(name in known))
      throw new TypeError(
        `Unknown benchmark "${name}"; the benchmarks are ${Object.keys(known).join(', ')} (default: all${pg ? '' : '; --pg adds the PostgreSQL ones'}).`,
      )
  }
  return { json, pg, benchmarks: known, names: names.length === 0 ? Object.keys(known) : names }
}

function machine() {
  const memory = new Database(':memory:')
  const sqlite = memory.prepare('SELECT sqlite_version() AS v').get().v
  memory.close()
  const cpu = cpus()
  return { cores: cpu.length, cpu: cpu[0]?.model ?? 'unknown', os: `${platform()} ${release()}`, node: process.version, sqlite }
}

let json, pg, benchmarks, names
try {
  ;({ json, pg, benchmarks, names } = parseArgs(process.argv.slice(2)))
} catch (error) {
  console.error(error.message)
  process.exit(2)
}
const info = machine()
if (pg) {
  const { serverInfo } = await import('./pg-lib.mjs')
  const server = await serverInfo()
  info.postgres = `${server.version} (synchronous_commit ${server.sync}, fsync ${server.fsync}, commit_delay ${server.delay})`
}
log(
  `tandemdb benchmarks: ${info.cores} cores (${info.cpu}), ${info.os}, Node ${info.node}, SQLite ${info.sqlite}${pg ? `, PostgreSQL ${info.postgres}` : ''}`,
)
const started = performance.now()
const { dir, remove } = tempDir()
const results = {}
try {
  for (const name of names) results[name] = await benchmarks[name]({ dir })
} finally {
  remove()
}
const rows = names.flatMap((name) => results[name].rows)
const seconds = (performance.now() - started) / 1000

if (json) {
  console.log(
    JSON.stringify({ machine: info, seconds, rows, details: Object.fromEntries(names.map((n) => [n, results[n].details])) }, null, 2),
  )
} else {
  console.log()
  printTable(rows, [
    ['name', 'benchmark'],
    ['tandem', 'tandem'],
    ['raw', pg ? 'raw sqlite / raw pg' : 'raw sqlite'],
    ['ratio', 'ratio'],
    ['goal', 'goal'],
    ['result', 'result'],
    ['ceiling', 'same SQL by hand (record + change-log row)'],
  ])
  console.log(
    `\n${rows.filter((r) => r.result === 'PASS').length}/${rows.length} goals met in ${seconds.toFixed(0)} s (Node ${info.node}, SQLite ${info.sqlite}${pg ? `, PostgreSQL ${info.postgres}` : ''}, ${info.cores} cores).`,
  )
}
