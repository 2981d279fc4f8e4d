// Counters and version counts per key: a record's counter must hold every acknowledged increment
// and no more than were ever issued; its version (1 + one per committed write) likewise.
import { isWrite } from './model.mjs'

export function checkCounts(model, report) {
  if (!model.finalKnown) return
  const perKey = new Map()
  const tally = (k) => {
    let t = perKey.get(k)
    if (t === undefined) perKey.set(k, (t = { okIncr: 0, maybeIncr: 0, okWrites: 0, maybeWrites: 0, okOps: [] }))
    return t
  }
  for (const op of model.ops) {
    if (op.status === 'fail' || op.abort) continue
    const ok = op.status === 'ok'
    for (const m of op.txn) {
      if (!isWrite(m)) continue
      const t = tally(m.k)
      if (ok) t.okWrites++
      else t.maybeWrites++
      if (m.f === 'incr') {
        if (ok) t.okIncr++
        else t.maybeIncr++
      }
      if (ok && t.okOps.length < 3) t.okOps.push(op)
    }
  }
  for (const [k, t] of perKey) {
    const record = model.final.get(k)
    const n = record?.n ?? 0
    const v = record?.v ?? 0
    if (n < t.okIncr) report.add('lost-update', `${k} counts ${n}, but ${t.okIncr} increments of it were acknowledged.`, t.okOps)
    if (n > t.okIncr + t.maybeIncr)
      report.add(
        'duplicate',
        `${k} counts ${n}, more than the ${t.okIncr + t.maybeIncr} increments ever issued that could have committed.`,
        t.okOps,
      )
    if (v < t.okWrites)
      report.add('lost-update', `${k} is at version ${v}, but ${t.okWrites} writes of it were acknowledged (each adds one).`, t.okOps)
    if (v > t.okWrites + t.maybeWrites)
      report.add(
        'duplicate',
        `${k} is at version ${v}, more than the ${t.okWrites + t.maybeWrites} writes of it that could have committed.`,
        t.okOps,
      )
  }
  for (const [k, record] of model.final) {
    if (!perKey.has(k))
      report.add('aborted-read', `${k} exists at version ${record.v}, but no operation that could have committed ever wrote it.`, [])
  }
}
