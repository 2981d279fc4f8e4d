// The checker: reads a whole history (every worker's operations, the final state, the change
// feed as the follower got it) and reports each anomaly class with a count and first examples.
// `check(history)` is pure, so tests can hand it histories with anomalies planted in them.
//
//   node torture/checker.mjs <run dir> [--json]   re-checks the logs of a kept run
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ANOMALY_CLASSES, createCollector } from './checks/anomalies.mjs'
import { buildModel } from './checks/model.mjs'
import { checkFeed } from './checks/feed.mjs'
import { checkLists } from './checks/lists.mjs'
import { checkCounts } from './checks/counts.mjs'
import { checkVersions } from './checks/versions.mjs'
import { checkGraph } from './checks/graph.mjs'

export { ANOMALY_CLASSES }

/** Operation counts for the summary: transactions by outcome, failures and unknowns by error code. */
function countOps(ops) {
  const counts = { transactions: ops.length, ok: 0, failed: 0, unknown: 0, failedBy: {}, unknownBy: {}, microOps: 0 }
  for (const op of ops) {
    counts.microOps += op.txn.length
    if (op.status === 'ok') counts.ok++
    else if (op.status === 'fail') {
      counts.failed++
      const code = op.error?.code ?? 'error'
      counts.failedBy[code] = (counts.failedBy[code] ?? 0) + 1
    } else {
      counts.unknown++
      const code = op.error?.code ?? 'killed'
      counts.unknownBy[code] = (counts.unknownBy[code] ?? 0) + 1
    }
  }
  return counts
}

/**
 * Checks `history` (see checks/model.mjs for its shape). Options: `gapFreeSeq` (default true: the
 * backend's change-log seqs have no holes), `realtime` (default true: also check real-time order).
 * Returns { anomalies: { [class]: { count, examples } }, anomalyCount, counts, faults, health }.
 */
export function check(history, options = {}) {
  const model = buildModel({ health: [], ...history }, options)
  const collector = createCollector()
  for (const problem of history.health ?? []) collector.add('health', `${problem.what}: ${problem.detail}`)
  // The feed first: whether it holds every version decides what the other checks may conclude.
  checkFeed(model, collector)
  checkLists(model, collector)
  checkCounts(model, collector)
  checkVersions(model, collector)
  checkGraph(model, collector, options)
  const anomalies = collector.result()
  return {
    anomalies,
    anomalyCount: Object.values(anomalies).reduce((sum, a) => sum + a.count, 0),
    counts: countOps(model.ops),
    feed: { complete: model.feedComplete, changes: model.feedChanges.length, interruptions: history.feed?.interruptions ?? 0 },
    faults: history.faults ?? {},
  }
}

async function main(argv) {
  const { loadHistory } = await import('./history.mjs')
  const { formatReport } = await import('./report.mjs')
  const dir = argv.find((a) => !a.startsWith('--'))
  if (dir === undefined) {
    process.stderr.write('Usage: node torture/checker.mjs <run dir> [--json]\n')
    return 2
  }
  const { existsSync, readFileSync } = await import('node:fs')
  const { join } = await import('node:path')
  const started = performance.now()
  const run = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'))
  const { BACKENDS } = await import('./backends.mjs')
  const history = await loadHistory(dir)
  const extra = existsSync(join(dir, 'health.json')) ? JSON.parse(readFileSync(join(dir, 'health.json'), 'utf8')) : undefined
  if (extra !== undefined) history.health.push(...extra.health)
  const report = check(history, { gapFreeSeq: BACKENDS[run.backend]?.gapFreeSeq ?? true })
  report.checker = { seconds: Math.round(performance.now() - started) / 1000, peakRssBytes: process.resourceUsage().maxRSS * 1024 }
  process.stdout.write(argv.includes('--json') ? `${JSON.stringify(report)}\n` : formatReport(report))
  return report.anomalyCount > 0 ? 1 : 0
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then((code) => process.exit(code))
}
