// The checker: reads a history (every worker's operations, the final state, the change feed as
// the follower got it) and reports each anomaly class with a count and first examples.
//
// `check(history)` takes a whole history in memory (tests plant anomalies in hand-written ones);
// `checkRun(dir)` (check-run.mjs) streams a run directory's logs through the same engine in
// bounded memory (checks/engine.mjs).
//
//   node torture/checker.mjs <run dir> [--json] [--slack-ms N] [--window-ms N] [--max-held N]
//                                                 re-checks the logs of a kept run
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ANOMALY_CLASSES, createCollector } from './checks/anomalies.mjs'
import { DEFAULT_SLACK_MS, Engine } from './checks/engine.mjs'

export { ANOMALY_CLASSES }

/** The report: anomalies by class, their total, the operation counts, the feed and the faults. */
export function result(collector, engine, { feedComplete, interruptions, faults }) {
  const anomalies = collector.result()
  return {
    anomalies,
    anomalyCount: Object.values(anomalies).reduce((sum, a) => sum + a.count, 0),
    counts: engine.counts,
    feed: { complete: feedComplete, changes: engine.feed.changes, interruptions },
    faults: faults ?? {},
  }
}

/**
 * Checks `history` (see checks/model.mjs for its shape), all of it at once. Options: `gapFreeSeq`
 * (default true: the backend's change-log seqs have no holes), `realtime` (default true: also
 * check real-time order). Returns { anomalies: { [class]: { count, examples } }, anomalyCount,
 * counts, feed, faults }.
 */
export function check(history, options = {}) {
  const collector = createCollector()
  for (const problem of history.health ?? []) collector.add('health', `${problem.what}: ${problem.detail}`)
  const engine = new Engine(collector, {
    ...options,
    finalKnown: history.final !== undefined,
    head: history.final?.head,
    hasFeed: history.feed !== undefined,
  })
  for (const op of history.ops) {
    const { status, cmp, res, error, errorAt, ...invocation } = op
    engine.invoke({ ...invocation, txn: op.txn })
    if (status === 'ok' || status === 'fail') engine.settle(op.id, { status, cmp: cmp ?? Infinity, res, error })
    else if (error !== undefined) engine.settle(op.id, { status: 'unknown', error, errorAt })
  }
  for (const incarnation of history.feed?.incarnations ?? []) {
    engine.feedEntry({ t: 'boot' })
    if (incarnation.position === undefined) continue // Killed before it had a stream.
    engine.feedEntry({ t: 'start', position: incarnation.position })
    for (const change of incarnation.changes) engine.feedEntry({ t: 'ch', ...change })
    for (const seq of incarnation.acks) engine.feedEntry({ t: 'ack', seq })
  }
  engine.feedEnded()
  for (const [id, record] of Object.entries(history.final?.records ?? {})) engine.finalRecord({ id, ...record })
  engine.finalEnded()
  const feedComplete = engine.end()
  return result(collector, engine, { feedComplete, interruptions: history.feed?.interruptions ?? 0, faults: history.faults })
}

async function main(argv) {
  const { parseArgs } = await import('node:util')
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean' },
      'slack-ms': { type: 'string' },
      'window-ms': { type: 'string' },
      'max-held': { type: 'string' },
    },
  })
  const dir = positionals[0]
  if (dir === undefined) {
    process.stderr.write('Usage: node torture/checker.mjs <run dir> [--json] [--slack-ms N] [--window-ms N] [--max-held N]\n')
    return 2
  }
  const { checkRun } = await import('./check-run.mjs')
  const { formatReport } = await import('./report.mjs')
  const number = (name) => (values[name] === undefined ? undefined : Number(values[name]))
  let report
  let slackMs = number('slack-ms')
  // An operation that started later than the slack allows (a worker stalled between choosing its
  // keys and starting) is not an anomaly: the check starts again with a slack four times longer,
  // twice at most, and says so.
  for (let attempt = 0; ; attempt++) {
    try {
      report = await checkRun(dir, { slackMs, windowMs: number('window-ms'), maxHeld: number('max-held') })
      break
    } catch (error) {
      if (error?.code !== 'CHECK_UNBOUNDED') throw error
      process.stderr.write(`torture checker: ${error.message}\n`)
      if (error.late !== true || attempt === 2) return 3
      slackMs = (slackMs ?? DEFAULT_SLACK_MS) * 4
      process.stderr.write(`torture checker: checking again with --slack-ms ${slackMs}\n`)
    }
  }
  process.stdout.write(values.json ? `${JSON.stringify(report)}\n` : formatReport(report))
  return report.anomalyCount > 0 ? 1 : 0
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then((code) => process.exit(code))
}
