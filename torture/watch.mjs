// What the runner does while the faults go on, besides waiting: it reads the logs as they grow
// (progress, --until-ok, stalls), compresses the log segments its readers have passed, and trims
// the store's change log up to what the follower has acknowledged, so neither the logs nor the
// store grow with the run's length more than they must.
import { closeSync, fstatSync, openSync, readSync, readdirSync, statSync, statfsSync } from 'node:fs'
import { join } from 'node:path'
import { StringDecoder } from 'node:string_decoder'
import { compressFinished, segmentPath, segmentsOf } from './log.mjs'
import { openTortureStore } from './store.mjs'

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
