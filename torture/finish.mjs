// The end of a run: the final state read into final.jsonl, and the checker run on the run
// directory in a process of its own.
import { createWriteStream } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ANOMALY_CLASSES } from './checks/anomalies.mjs'
import { COLLECTION, keyName, openTortureStore } from './store.mjs'

const HERE = fileURLToPath(new URL('.', import.meta.url))

/**
 * Reads every record, a page of ids at a time, into `path` (JSON lines in id order), and returns
 * { head, integrity, records: count, unread } (unread: records with ids beyond `lastId`).
 */
export async function readFinal(store, path, lastId) {
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
export async function runChecker(dir) {
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
export function emptyReport(health, error) {
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
