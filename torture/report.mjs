// The report as text: the table of anomaly classes, the first example of each class found, the
// operation counts and the faults injected.
import { ANOMALY_CLASSES } from './checks/anomalies.mjs'

function pad(text, width) {
  return String(text).padEnd(width)
}

function byCode(counts) {
  const entries = Object.entries(counts).sort((a, b) => b[1] - a[1])
  return entries.length === 0 ? '' : ` (${entries.map(([code, n]) => `${code} ${n}`).join(', ')})`
}

export function formatReport(report) {
  const lines = []
  const width = Math.max(...Object.keys(ANOMALY_CLASSES).map((n) => n.length))
  lines.push(`${pad('anomaly', width)}  count  first example`)
  for (const name of Object.keys(ANOMALY_CLASSES)) {
    const { count, examples } = report.anomalies[name]
    const first = examples[0]?.message ?? ''
    lines.push(`${pad(name, width)}  ${String(count).padStart(5)}  ${first.length > 110 ? `${first.slice(0, 107)}...` : first}`)
  }
  for (const name of Object.keys(ANOMALY_CLASSES)) {
    const [first] = report.anomalies[name].examples
    if (first === undefined) continue
    lines.push('', `${name}: ${first.message}`)
    for (const op of first.ops) lines.push(`  ${op}`)
  }
  const c = report.counts
  lines.push('')
  lines.push(
    `operations: ${c.transactions} transactions (${c.microOps} micro-ops): ok ${c.ok}, failed ${c.failed}${byCode(c.failedBy)}, unknown ${c.unknown}${byCode(c.unknownBy)}`,
  )
  lines.push(
    `change feed: ${report.feed.changes} changes, ${report.feed.complete ? 'complete' : "incomplete (this backend's seqs may have holes, or changes are missing)"}${report.feed.interruptions ? `; the follower's stream failed ${report.feed.interruptions} times and was opened again` : ''}`,
  )
  const faults = Object.entries(report.faults).map(
    ([name, f]) => `${name} ${f.injected}${f.busyOrFailed ? ` (${f.busyOrFailed} busy or failed)` : ''}`,
  )
  const run = report.run
  lines.push(
    `faults injected: ${faults.join(', ') || 'none'}${run ? `; processes killed ${run.processesKilled}, restarted ${run.restarts}` : ''}`,
  )
  const until =
    run?.until === undefined
      ? ''
      : ` (until ${run.until.ok} ok, faults ${
          Object.entries(run.until.faults)
            .map(([f, n]) => `${f} ${n}`)
            .join(', ') || 'none'
        })`
  if (run)
    lines.push(
      `run: ${run.backend}, durability ${run.durability}, ${run.procs} workers x ${run.clients} clients, ${run.seconds} s${until}, seed ${run.seed}${run.dir ? `, logs in ${run.dir}` : ''}`,
    )
  if (run?.phases)
    lines.push(
      `after the faults: ${Object.entries(run.phases)
        .map(([name, ms]) => `${name.replace(/Ms$/, '')} ${ms} ms`)
        .join(', ')}`,
    )
  if (report.checker)
    lines.push(
      `checker: ${report.checker.seconds} s${report.checker.cpuSeconds !== undefined ? ` (${report.checker.cpuSeconds} s of CPU)` : ''}, peak memory ${(report.checker.peakRssBytes / 1048576).toFixed(0)} MB RSS${report.checker.peakHeapBytes ? `, ${(report.checker.peakHeapBytes / 1048576).toFixed(0)} MB heap` : ''}${report.checker.heldOps ? `, at most ${report.checker.heldOps} operations held at once` : ''}`,
    )
  if (run?.diskBytes !== undefined)
    lines.push(
      `disk: ${(run.diskBytes / 1048576).toFixed(0)} MB used by the run (logs compressed), store at most ${(run.peakStoreBytes / 1048576).toFixed(0)} MB, change log trimmed by ${run.changesTrimmed} changes; ${run.transactionsInvoked} transactions invoked`,
    )
  lines.push(report.anomalyCount === 0 ? 'result: no anomaly' : `result: ${report.anomalyCount} anomalies`)
  return `${lines.join('\n')}\n`
}
