// What the runner does while the faults go on: it reads the logs as they grow
// (progress, --until-ok, stalls), compresses the log segments its readers have passed, and trims
// the store's change log up to what the follower has acknowledged, so neither the logs nor the
// store grow with the run's length more than they must.
import { closeSync, fstatSync, openSync, readSync, readdirSync, statSync, statfsSync } from 'node:fs'
import { join } from 'node:path'
import { StringDecoder } from 'node:string_decoder'
import { FeedStream } from './checks/feed-stream.mjs'
import { compressFinished, segmentPath, segmentsOf } from './log.mjs'
import { openTortureStore } from './store.mjs'

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Reads the lines appended to a segmented log since the last look (it may not exist yet). */
export class LogTail {
  #path
  #segment = 0
  #fd
  #offset = 0
  #rest = ''
  #decoder = new StringDecoder('utf8')

  constructor(path) {
    this.#path = path
  }

  /** The segment being read: every earlier one has been read to its end. */
  get segment() {
    return this.#segment
  }

  /** Calls `onLine(line)` for each complete line written since the last call. */
  read(onLine) {
    const buffer = Buffer.alloc(1 << 20)
    for (;;) {
      if (this.#fd === undefined) {
        try {
          this.#fd = openSync(segmentPath(this.#path, this.#segment), 'r')
        } catch {
          return // Not created yet.
        }
      }
      // Whether a next segment exists is looked at before reading to the end: once it does, this
      // one is finished, so what is read now is all of it.
      const finished = segmentsOf(this.#path).some((s) => s.n > this.#segment)
      while (fstatSync(this.#fd).size > this.#offset) {
        const n = readSync(this.#fd, buffer, 0, buffer.length, this.#offset)
        if (n === 0) break
        this.#offset += n
        const lines = (this.#rest + this.#decoder.write(buffer.subarray(0, n))).split('\n')
        this.#rest = lines.pop()
        for (const line of lines) if (line !== '') onLine(line)
      }
      if (!finished) return
      if (this.#rest !== '') onLine(this.#rest)
      this.close()
      this.#segment++
      this.#offset = 0
      this.#rest = ''
    }
  }

  close() {
    if (this.#fd !== undefined) closeSync(this.#fd)
    this.#fd = undefined
  }
}

/** Compresses the segments of each tail's log that the tail has read to their end. */
export async function compressBehind(tails) {
  for (const [path, tail] of tails) {
    const segments = segmentsOf(path).filter((s) => s.n < tail.segment && !s.gz)
    if (segments.length > 0) await compressFinished(path, tail.segment)
  }
}

/** Whether the follower's log ends with its clean exit at or past `head`. */
export function drainedTo(path, head) {
  const last = segmentsOf(path).at(-1)
  if (last === undefined || last.gz) return false
  const size = sizeOf(last.path)
  if (size === 0) return false
  const fd = openSync(last.path, 'r')
  try {
    const tail = Buffer.alloc(Math.min(size, 4096))
    readSync(fd, tail, 0, tail.length, size - tail.length)
    const line = tail.toString('utf8').trimEnd().split('\n').at(-1)
    const entry = JSON.parse(line ?? 'null')
    return entry?.t === 'end' && entry.last >= head
  } catch {
    return false
  } finally {
    closeSync(fd)
  }
}

/** The size of a file, 0 if it does not exist. */
export function sizeOf(path) {
  try {
    return statSync(path).size
  } catch {
    return 0
  }
}

/** How far a process has got with its log: the bytes of all its segments. */
export function logProgress(path) {
  return segmentsOf(path).reduce((sum, s) => sum + sizeOf(s.path), 0)
}

/** Bytes under `dir` (recursively). */
export function diskUsed(dir) {
  let bytes = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) bytes += diskUsed(path)
    else bytes += sizeOf(path)
  }
  return bytes
}

/** Bytes free for an unprivileged user on the file system holding `dir`. */
export function diskFree(dir) {
  const s = statfsSync(dir)
  return s.bavail * s.bsize
}

/** Changes kept beyond the follower's acknowledged position, for what commits while a trim opens the store. */
const TRIM_MARGIN = 50_000

/**
 * Trims the change log up to the follower's acknowledged seq, through the public API: the
 * store's head (describe()), then a store opened with `changes.maxCount` = head - acked + margin,
 * whose trimChanges() keeps that many of the newest changes. The margin covers what commits in
 * between, so nothing the follower has not acknowledged is ever dropped (a follower that lost
 * changes would fail with CHANGES_TRIMMED and show up as a crash).
 */
export async function trimToAcked(store, acked) {
  const probe = await openTortureStore(store, 'trimmer')
  let head
  try {
    head = (await probe.describe()).changes.head
  } finally {
    await probe.close()
  }
  const keep = head - acked + TRIM_MARGIN
  if (keep >= head) return { head, trimmed: 0 }
  const trimmer = await openTortureStore(store, 'trimmer', { keepChanges: keep })
  try {
    return { head, trimmed: await trimmer.trimChanges() }
  } finally {
    await trimmer.close()
  }
}

const MB = 1024 * 1024
const PROGRESS_MS = 10_000
const TRIM_EVERY_MS = 20_000

/**
 * Watches the run while the faults go on: counts the transactions the workers started and
 * completed ok (their logs' 'inv' and 'ok' lines, as the checker will), the changes the follower
 * got and acknowledged, and the faults the nemesis injected (its log). Meanwhile it compresses the
 * log segments it has read and trims the change log up to the follower's acknowledged seq.
 * Resolves when the run should stop: after `seconds`, or once the `until` targets are met, or at a
 * stall (no transaction ok for `stallMs`; with `until`, no awaited fault for `stallMs` either),
 * which it reports in `health`.
 */
export async function watchRun({ dir, logs, workers, seconds, until, stallMs, supervisor, progress, health, store, location, backend }) {
  const tails = new Map(workers.map((name) => [join(logs, `${name}.log`), new LogTail(join(logs, `${name}.log`))]))
  const followerPath = join(logs, 'follower.log')
  const nemesisPath = join(logs, 'nemesis.log')
  tails.set(followerPath, new LogTail(followerPath))
  tails.set(nemesisPath, new LogTail(nemesisPath))
  // The feed's stream checks run live; everything else needs the final state and runs at the end.
  const early = []
  const feed = new FeedStream({ report: (name, message) => early.push(`${name}: ${message}`), gapFreeSeq: backend.gapFreeSeq })
  const faults = {}
  let ok = 0
  let invoked = 0
  let changes = 0
  let acked = 0
  let trimmed = 0
  let storeBytes = 0
  let peakStoreBytes = 0
  let peakDiskBytes = 0
  const started = performance.now()
  let lastOkAt = started
  let lastFaultAt = started
  let nextReport = started + PROGRESS_MS
  let nextTrim = started + TRIM_EVERY_MS
  const faultsMissing = () =>
    until === undefined
      ? []
      : Object.entries(until.faults)
          .filter(([f, n]) => (faults[f] ?? 0) < n)
          .map(([f, n]) => `${f} ${faults[f] ?? 0} of ${n}`)
  const summary = () =>
    `${invoked} transactions (${ok} ok), ${supervisor.kills} processes killed, faults ${
      Object.entries(faults)
        .map(([f, n]) => `${f} ${n}`)
        .join(', ') || 'none'
    }`
  const measure = async () => {
    storeBytes = await backend.size(location).catch(() => storeBytes)
    peakStoreBytes = Math.max(peakStoreBytes, storeBytes)
    const disk = diskUsed(dir) + (location.dataDir?.startsWith(dir) ? 0 : storeBytes)
    peakDiskBytes = Math.max(peakDiskBytes, disk)
    return disk
  }
  try {
    for (;;) {
      await sleep(250)
      const now = performance.now()
      const okBefore = ok
      for (const name of workers)
        tails.get(join(logs, `${name}.log`)).read((line) => {
          if (line.startsWith('{"t":"ok"')) ok++
          else if (line.startsWith('{"t":"inv"')) invoked++
        })
      if (ok > okBefore) lastOkAt = now
      tails.get(followerPath).read((line) => {
        let entry
        try {
          entry = JSON.parse(line)
        } catch {
          return // A torn line: the checker counts it.
        }
        if (entry.t === 'ch') changes++
        else if (entry.t === 'ack') acked = Math.max(acked, entry.seq)
        feed.entry(entry)
      })
      tails.get(nemesisPath).read((line) => {
        if (!line.startsWith('{"t":"fault"')) return
        const { f } = JSON.parse(line)
        faults[f] = (faults[f] ?? 0) + 1
        lastFaultAt = now
      })
      await compressBehind(tails)
      const elapsed = (now - started) / 1000
      if (until === undefined ? elapsed >= seconds : ok >= until.ok && faultsMissing().length === 0) break
      if (now - lastOkAt >= stallMs) {
        health.push({
          what: 'stall',
          detail: `no transaction completed ok for ${Math.round((now - lastOkAt) / 1000)} s, ${elapsed.toFixed(0)} s into the run (${summary()}); the run stopped there`,
        })
        break
      }
      if (faultsMissing().length > 0 && now - lastFaultAt >= stallMs) {
        health.push({
          what: 'stall',
          detail: `no fault injected for ${Math.round((now - lastFaultAt) / 1000)} s while the run still waited for ${faultsMissing().join(', ')} (${summary()}); the run stopped there`,
        })
        break
      }
      if (now >= nextTrim && acked > 0) {
        nextTrim = now + TRIM_EVERY_MS
        // A trim that fails (a fault hit the trimmer's connection) is simply tried again next time.
        trimmed += await trimToAcked(store, acked).then(
          (r) => r.trimmed,
          () => 0,
        )
      }
      if (now >= nextReport) {
        nextReport += PROGRESS_MS
        const disk = await measure()
        progress(
          `torture: ${elapsed.toFixed(0)} s, ${summary()}; follower ${changes} changes, acked seq ${acked}; anomalies so far ${early.length} (feed stream; the rest are checked at the end)${early.length > 0 ? `, the first: ${early[0]}` : ''}; change log trimmed by ${trimmed}; store ${(storeBytes / MB).toFixed(0)} MB, disk ${(disk / MB).toFixed(0)} MB`,
        )
      }
    }
  } finally {
    for (const tail of tails.values()) tail.close()
  }
  await measure()
  return {
    seconds: Math.round((performance.now() - started) / 100) / 10,
    ok,
    invoked,
    faults,
    peakStoreBytes,
    peakDiskBytes,
    changesTrimmed: trimmed,
  }
}
