// Plain files under contention: two processes doing locked read-modify-write of one JSON file
// (node bench/files.mjs, or `npm run bench files`). In the same run, interleaved rounds of:
//   tandem  updateJsonFile from tandemdb/fs (lock file + atomic replace with two fsyncs)
//   tandem-normal  the same with durability 'normal' (no fsync, as lowdb): compares the locks alone
//   lowdb   lowdb 7 + proper-lockfile 4 (mkdir lock; steno temp + rename, no fsync)
//   raw     fs.readFile + fs.writeFile in place, no lock (the unsafe baseline: it loses updates)
// Prints each one's median ops/s with min-max over the rounds, and the updates lost (the file's
// final count against the acknowledged updates). Goal: Tandem >= 3x lowdb + proper-lockfile with nothing lost.
// Each round also times the disk: a synchronous loop of temp write + fsync + rename of the same
// small file, the least a durable replace holds the lock for; 1 s / that time is the ceiling.
import { execFile } from 'node:child_process'
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { cpus } from 'node:os'
import { formatRate, log, median, resultRow, tempDir } from './lib.mjs'

const WORKER = fileURLToPath(new URL('./files-worker.mjs', import.meta.url))
const MODES = ['tandem', 'tandem-normal', 'lowdb', 'raw']

function runWorker(args) {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [WORKER, JSON.stringify(args)], (error, stdout, stderr) => {
      if (error) reject(new Error(`${args.mode} worker failed: ${stderr || error.message}`))
      else resolve(JSON.parse(stdout))
    })
  })
}

/** One round of one mode: two processes for `ms`; ops/s and the updates lost. */
async function round(dir, mode, ms) {
  const file = join(dir, `${mode}.json`)
  writeFileSync(file, JSON.stringify({ n: 0 }))
  const at = Date.now() + 300 // both processes loaded and waiting
  const results = await Promise.all([0, 1].map(() => runWorker({ mode, file, at, ms })))
  const acked = results.reduce((sum, r) => sum + r.done, 0)
  let n
  try {
    n = JSON.parse(readFileSync(file, 'utf8')).n
  } catch {
    n = 0 // raw: two in-place writes interleaved and left a file that does not parse; every update is lost
  }
  return { rate: acked / (ms / 1000), lost: acked - n, failed: results.reduce((sum, r) => sum + r.failed, 0) }
}

/** Microseconds per temp write + fsync + rename of a small file (no lock, one process): the disk's share of a durable replace. */
function replaceMicros(dir, count = 300) {
  const target = join(dir, 'ceiling.json')
  const bytes = Buffer.from(`${JSON.stringify({ n: 12345 }, null, 2)}\n`)
  const started = performance.now()
  for (let i = 0; i < count; i++) {
    const temp = join(dir, `.ceiling.${i}.tmp`)
    const fd = openSync(temp, 'wx', 0o600)
    writeSync(fd, bytes)
    fsyncSync(fd)
    closeSync(fd)
    renameSync(temp, target)
  }
  return ((performance.now() - started) * 1000) / count
}

export async function runFiles({ dir, rounds = 5, ms = 3000 } = {}) {
  const runs = Object.fromEntries(MODES.map((m) => [m, []]))
  const replaces = []
  for (let r = 1; r <= rounds; r++) {
    replaces.push(replaceMicros(dir))
    log(`files round ${r}/${rounds} disk: write + fsync + rename ${replaces.at(-1).toFixed(0)} µs`)
    for (const mode of MODES) {
      const result = await round(dir, mode, ms)
      runs[mode].push(result)
      log(
        `files round ${r}/${rounds} ${mode}: ${formatRate(result.rate)}, ${result.lost} lost${result.failed ? `, ${result.failed} failed reads` : ''}`,
      )
    }
    log(`files round ${r}/${rounds} tandem / lowdb + proper-lockfile: ${(runs.tandem.at(-1).rate / runs.lowdb.at(-1).rate).toFixed(2)}x`)
  }
  const summary = Object.fromEntries(
    MODES.map((m) => {
      const rates = runs[m].map((x) => x.rate)
      return [m, { median: median(rates), min: Math.min(...rates), max: Math.max(...rates), lost: runs[m].reduce((s, x) => s + x.lost, 0) }]
    }),
  )
  const figure = (s) => `${formatRate(s.median)} (${formatRate(s.min)}-${formatRate(s.max)}), ${s.lost} lost`
  const ratio = summary.tandem.median / summary.lowdb.median
  const replace = { median: median(replaces), min: Math.min(...replaces), max: Math.max(...replaces) }
  return {
    rows: [
      resultRow({
        name: '6. files: 2 processes, locked read-modify-write of one JSON file',
        tandem: figure(summary.tandem),
        raw: `lowdb + proper-lockfile ${figure(summary.lowdb)}; raw fs.writeFile, no lock ${figure(summary.raw)}; tandem without fsync ${figure(summary['tandem-normal'])}`,
        ratio: `${ratio.toFixed(1)}x`,
        goal: '>= 3x lowdb + proper-lockfile, 0 lost',
        pass: ratio >= 3 && summary.tandem.lost === 0 && summary['tandem-normal'].lost === 0 && summary.lowdb.lost === 0,
      }),
    ],
    details: summary,
    replace,
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { dir, remove } = tempDir()
  try {
    log(`files benchmark: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}`)
    const result = await runFiles({ dir })
    const row = result.rows[0]
    console.log(`\n${row.name} (median ops/s, min-max over the rounds, updates lost)`)
    for (const [mode, s] of Object.entries(result.details))
      console.log(`  ${mode.padEnd(14)} ${formatRate(s.median).padStart(8)} (${formatRate(s.min)}-${formatRate(s.max)}), ${s.lost} lost`)
    console.log(`  tandem / lowdb + proper-lockfile: ${row.ratio} (goal ${row.goal}): ${row.result}`)
    const { replace } = result
    console.log(
      `  disk: write + fsync + rename ${replace.median.toFixed(0)} µs (${replace.min.toFixed(0)}-${replace.max.toFixed(0)}): one locked durable replace at a time caps at ${formatRate(1e6 / replace.median)}`,
    )
    if (result.details.tandem.lost !== 0) process.exitCode = 1
  } finally {
    remove()
  }
}
