#!/usr/bin/env node
// The checker alone, against history length: synthetic histories (synthetic.mjs: the generator's
// workload at a real run's rate, with kills and follower restarts) of 1, 4 and 16 minutes, each
// checked by `node torture/checker.mjs` in a process of its own. Prints, per length: transactions,
// wall and CPU time, peak RSS and heap, and the most operations held at once. Memory should stay
// flat (it follows the key window, the slack and the graph window) and time grow linearly.
//
//   node torture/bench-checker.mjs [--minutes 1,4,16] [--dir /tmp/tandem-bench-checker] [--json]
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { synthesize } from './synthetic.mjs'

const HERE = fileURLToPath(new URL('.', import.meta.url))
const { values } = parseArgs({
  options: { minutes: { type: 'string' }, dir: { type: 'string' }, json: { type: 'boolean' }, keep: { type: 'boolean' } },
})
const minutes = (values.minutes ?? '1,4,16').split(',').map(Number)
const root = values.dir ?? '/tmp/tandem-bench-checker'
mkdirSync(root, { recursive: true })

const MB = 1024 * 1024
const rows = []
for (const m of minutes) {
  const dir = join(root, `${m}m`)
  let made
  if (!existsSync(join(dir, 'final.json'))) {
    rmSync(dir, { recursive: true, force: true })
    const t = performance.now()
    made = synthesize(dir, { seconds: m * 60, seed: m })
    process.stderr.write(
      `bench: ${m} min of history, ${made.transactions} transactions, written in ${((performance.now() - t) / 1000).toFixed(0)} s\n`,
    )
  }
  const child = spawnSync(process.execPath, [join(HERE, 'checker.mjs'), dir, '--json'], { encoding: 'utf8', maxBuffer: 64 * MB })
  if (child.status !== 0) {
    process.stderr.write(`bench: the checker failed on ${dir} (exit ${child.status}): ${child.stderr.slice(-2000)}\n`)
    process.exit(1)
  }
  const report = JSON.parse(child.stdout)
  const c = report.checker
  rows.push({
    minutes: m,
    transactions: report.counts.transactions,
    changes: report.feed.changes,
    anomalies: report.anomalyCount,
    seconds: c.seconds,
    cpuSeconds: c.cpuSeconds,
    cpuMicrosPerTransaction: Math.round((c.cpuSeconds * 1e6) / report.counts.transactions),
    peakRssMB: Math.round(c.peakRssBytes / MB),
    peakHeapMB: Math.round(c.peakHeapBytes / MB),
    heldOps: c.heldOps,
    logMB: Math.round(du(join(dir, 'logs')) / MB),
  })
  process.stderr.write(`bench: ${m} min checked in ${c.seconds} s\n`)
  if (!values.keep) rmSync(dir, { recursive: true, force: true })
}

function du(path) {
  const out = spawnSync('du', ['-sb', path], { encoding: 'utf8' }).stdout
  return Number(out.split(/\s/)[0])
}

if (values.json) process.stdout.write(`${JSON.stringify(rows)}\n`)
else {
  const header = [
    'history',
    'transactions',
    'changes',
    'logs (plain)',
    'anomalies',
    'wall',
    'CPU',
    'CPU/txn',
    'peak RSS',
    'peak heap',
    'ops held',
  ]
  const lines = rows.map((r) => [
    `${r.minutes} min`,
    r.transactions.toLocaleString('en-US'),
    r.changes.toLocaleString('en-US'),
    `${r.logMB} MB`,
    r.anomalies,
    `${r.seconds} s`,
    `${r.cpuSeconds} s`,
    `${r.cpuMicrosPerTransaction} µs`,
    `${r.peakRssMB} MB`,
    `${r.peakHeapMB} MB`,
    r.heldOps.toLocaleString('en-US'),
  ])
  process.stdout.write(`| ${header.join(' | ')} |\n| ${header.map(() => '---').join(' | ')} |\n`)
  for (const line of lines) process.stdout.write(`| ${line.join(' | ')} |\n`)
}
