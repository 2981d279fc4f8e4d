// Shared helpers for the benchmarks: temp stores, the raw better-sqlite3 baseline, timing and printing.
import { fork } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { openStore } from '../dist/index.js'

/** A private temp directory (mode 0700, as openStore wants) and a function that removes it. */
export function tempDir(prefix = 'tandem-bench-') {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

/** The collection every benchmark writes: no schema, no index, any role may write. */
export const COLLECTIONS = { items: { writers: '*' } }

/** Opens a Tandem store on `path`. */
export function openTandem(path, { durability = 'normal', role = 'bench' } = {}) {
  return openStore({ path, role, durability, collections: COLLECTIONS })
}

/**
 * The raw baseline: the same file setup Tandem uses (WAL, the same synchronous level) and a table
 * of the same shape as a Tandem collection (STRICT, TEXT primary key, JSON checked with json_valid),
 * so both sides do the same SQLite work and the difference is what Tandem adds on top.
 */
export function openRaw(path, { synchronous = 'NORMAL', busyTimeoutMs = 0 } = {}) {
  const db = new Database(path)
  db.pragma(`busy_timeout = ${busyTimeoutMs}`)
  db.pragma('journal_mode = WAL')
  db.pragma(`synchronous = ${synchronous}`)
  db.exec(`CREATE TABLE IF NOT EXISTS items (
    id TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    role TEXT NOT NULL,
    data TEXT NOT NULL CHECK (json_valid(data))
  ) STRICT`)
  // For the "same SQL by hand" baseline: a change log shaped like Tandem's (rowid seq, no index).
  db.exec(`CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY,
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('insert', 'update', 'delete', 'trim')),
    version INTEGER NOT NULL,
    role TEXT NOT NULL,
    at INTEGER NOT NULL,
    data TEXT
  ) STRICT`)
  return db
}

/** A prepared autocommit INSERT on the raw table; each call is one transaction. */
export function rawInserter(db) {
  const insert = db.prepare('INSERT INTO items (id, version, created_at, updated_at, role, data) VALUES (?, 1, ?, ?, ?, ?)')
  let n = 0
  return (data) => {
    const now = Date.now()
    insert.run(`raw-${String(++n).padStart(12, '0')}`, now, now, 'bench', JSON.stringify(data))
  }
}

/**
 * The ceiling: raw better-sqlite3 doing the SQL a Tandem insert does — the record row and its
 * change-log row, in one transaction — with none of Tandem's JavaScript. `perTransaction` rows
 * share one BEGIN IMMEDIATE ... COMMIT (1: one transaction per insert, as a single write; 1000: what
 * a full group-commit batch does). Returns a function that inserts `perTransaction` records.
 */
export function rawLogInserter(db, perTransaction = 1) {
  const begin = db.prepare('BEGIN IMMEDIATE')
  const commit = db.prepare('COMMIT')
  const insert = db.prepare('INSERT INTO items (id, version, created_at, updated_at, role, data) VALUES (?, 1, ?, ?, ?, ?)')
  const log = db.prepare("INSERT INTO changes (collection, id, op, version, role, at, data) VALUES ('items', ?, 'insert', 1, ?, ?, ?)")
  let n = 0
  return (first) => {
    begin.run()
    for (let i = 0; i < perTransaction; i++) {
      const now = Date.now()
      const id = `log-${String(++n).padStart(12, '0')}`
      const json = JSON.stringify(sampleData(first + i))
      insert.run(id, now, now, 'bench', json)
      log.run(id, 'bench', now, json)
    }
    commit.run()
  }
}

/** A small record, like a row an app would keep: a few strings, a number, a nested object. */
export function sampleData(i) {
  return { n: i, name: `item ${i}`, status: 'open', tags: ['bench', 'tandem'], owner: { id: i % 97, kind: 'user' } }
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/**
 * Runs `step` (sync or async, one operation per call, awaited) back to back for `ms` milliseconds.
 * Returns operations per second.
 */
export async function rateFor(ms, step) {
  const started = performance.now()
  const end = started + ms
  let n = 0
  let now = started
  while (now < end) {
    // Check the clock every 64 operations: performance.now() is cheap but not free at 100k/s.
    for (let i = 0; i < 64; i++) {
      const r = step(n++)
      if (r !== undefined) await r
    }
    now = performance.now()
  }
  return n / ((now - started) / 1000)
}

/** Formats a rate like "64.2k/s". */
export function formatRate(perSecond) {
  if (perSecond >= 10_000) return `${(perSecond / 1000).toFixed(1)}k/s`
  if (perSecond >= 1000) return `${(perSecond / 1000).toFixed(2)}k/s`
  return `${perSecond.toFixed(0)}/s`
}

export function formatMs(ms) {
  return ms >= 100 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(1)} ms`
}

/** One result line: what was measured, Tandem's figure, the raw figure, their ratio, the goal and its verdict. */
export function resultRow({ name, tandem, raw, ratio, goal, pass, note, ceiling = '' }) {
  return { name, tandem, raw, ratio, goal, result: pass ? 'PASS' : 'MISS', ceiling, ...(note === undefined ? {} : { note }) }
}

/** The ceiling column: the same-SQL-by-hand figure and Tandem's share of it. */
export function ceilingCell(tandem, ceiling) {
  return `${formatRate(ceiling)} (tandem ${(tandem / ceiling).toFixed(2)}x)`
}

/** Prints rows as an aligned text table. */
export function printTable(rows, columns) {
  const widths = columns.map(([key, title]) => Math.max(title.length, ...rows.map((r) => String(r[key] ?? '').length)))
  const line = (cells) => cells.map((c, i) => String(c).padEnd(widths[i])).join('  ')
  console.log(line(columns.map(([, title]) => title)))
  console.log(line(widths.map((w) => '-'.repeat(w))))
  for (const row of rows) console.log(line(columns.map(([key]) => row[key] ?? '')))
}

export const log = (...args) => console.error(...args)

/** Latencies kept in 10 µs buckets up to 10 s: percentiles at no memory cost per sample. */
export class Latencies {
  buckets = new Uint32Array(1_000_000)
  count = 0
  maxMs = 0
  add(ms) {
    this.buckets[Math.min(this.buckets.length - 1, Math.max(0, Math.floor(ms * 100)))]++
    this.count++
    if (ms > this.maxMs) this.maxMs = ms
  }
  percentile(p) {
    let seen = 0
    const wanted = Math.ceil(this.count * p)
    for (let i = 0; i < this.buckets.length; i++) {
      seen += this.buckets[i]
      if (seen >= wanted) return (i + 1) / 100
    }
    return this.maxMs
  }
}

/**
 * Forks `processes` workers of `script` (each gets `args(index)` as its JSON argument), waits for
 * every one's 'ready', starts them together with an IPC 'go', and resolves with their 'result'
 * messages by index once all have exited cleanly.
 */
export async function runWorkers(script, processes, args) {
  const children = []
  const ready = []
  const results = []
  for (let index = 0; index < processes; index++) {
    const child = fork(script, [JSON.stringify({ ...args(index), index })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    children.push(child)
    ready.push(
      new Promise((resolve, reject) => {
        child.on('message', (message) => {
          if (message.type === 'ready') resolve()
          else if (message.type === 'result') results[message.index] = message
        })
        child.once('error', reject)
        child.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`worker ${index} of ${script} exited with code ${code}`))))
      }),
    )
  }
  await Promise.all(ready)
  const exited = children.map(
    (child) =>
      new Promise((resolve, reject) =>
        child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`worker exited with code ${code}`)))),
      ),
  )
  for (const child of children) child.send('go')
  await Promise.all(exited)
  return results
}

/** Collects a forked child's IPC messages; `next(type)` resolves with the first one of that type. */
export function childInbox(child) {
  const messages = []
  let wake
  child.on('message', (m) => {
    messages.push(m)
    wake?.()
  })
  return {
    async next(type) {
      for (;;) {
        const found = messages.find((m) => m.type === type)
        if (found) return found
        await new Promise((resolve) => (wake = resolve))
      }
    },
  }
}

/** A contention worker's report to its parent: its counts, latency percentiles and CPU; then it disconnects. */
export function sendWorkerResult(index, latencies, cpu, fields) {
  process.send(
    {
      type: 'result',
      index,
      ...fields,
      maxLatencyMs: latencies.maxMs,
      p50LatencyMs: latencies.percentile(0.5),
      p99LatencyMs: latencies.percentile(0.99),
      p999LatencyMs: latencies.percentile(0.999),
      cpuMs: (cpu.user + cpu.system) / 1000,
    },
    () => process.disconnect(),
  )
}
