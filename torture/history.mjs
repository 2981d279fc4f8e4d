// Reading a run directory: which logs it holds, what a log line means to the checker, and the
// final state the runner wrote. check-run.mjs streams these through the checker.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

/** A follower log's change line as the checker reads it (the data summary unpacked, see follower.mjs). */
export function feedChange(e) {
  const change = { seq: e.seq, c: e.c, id: e.id, op: e.op, v: e.v }
  if (Array.isArray(e.d)) {
    const [len, last, h, n, a, b] = e.d
    change.d = { len, last, h, n, a, b }
    if (e.dv !== undefined) change.dv = e.dv
  }
  return change
}

/** The worker names with a log in `logs` (w1, w2, ...), in order. */
export function workerNames(logs) {
  const names = new Set()
  for (const file of readdirSync(logs)) {
    const match = /^(w\d+)\.\d{4,}\.log(\.gz)?$/.exec(file)
    if (match !== null) names.add(match[1])
  }
  return [...names].sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)))
}

/** The final state the runner wrote: final.json (head, integrity, record count); the records are in final.jsonl, in id order. */
export function finalHeader(dir) {
  const path = join(dir, 'final.json')
  return existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : undefined
}
