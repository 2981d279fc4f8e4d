// The append-only logs every torture process keeps: one JSON object per line, in segments.
//
// A line is handed to the kernel with one synchronous write() before the call returns, so it
// survives a SIGKILL of the writer the instant after (the page cache belongs to the kernel, not to
// the process). fsync is only needed to survive a power cut, which the harness does not simulate;
// `fsync: true` adds one per line anyway for runs on machines that might be reset.
//
// A log named `logs/w1.log` is kept as segments `logs/w1.0000.log`, `logs/w1.0001.log`, ... A
// writer moves to the next segment once the current one holds SEGMENT_BYTES; a segment with a
// successor is finished for good, and the runner compresses it (`w1.0000.log.gz`) while the run
// goes on, so an hour of logs fits in a few GB. A streaming compressor could not do this: its
// buffered state dies with a SIGKILLed writer, while a finished segment has no writer left.
import {
  closeSync,
  createReadStream,
  createWriteStream,
  existsSync,
  fdatasyncSync,
  fstatSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { pipeline } from 'node:stream/promises'
import { createGunzip, createGzip } from 'node:zlib'

/** Segment size; TORTURE_SEGMENT_BYTES overrides it (tests rotate after a few KB). */
export const SEGMENT_BYTES = Number(process.env.TORTURE_SEGMENT_BYTES) || 32 * 1024 * 1024

/** The clock every process shares: CLOCK_MONOTONIC is system-wide on Linux, so times compare across processes. */
export function clock(startNs) {
  const start = BigInt(startNs)
  /** Microseconds since the run started. */
  return () => Number((process.hrtime.bigint() - start) / 1000n)
}

/** The segments of log `path` (as named by its writers, e.g. logs/w1.log), oldest first: [{ n, path, gz }]. */
export function segmentsOf(path) {
  const dir = dirname(path)
  const stem = basename(path).replace(/\.log$/, '')
  const pattern = new RegExp(`^${stem.replace(/[.]/g, '\\.')}\\.(\\d{4,})\\.log(\\.gz)?$`)
  const byNumber = new Map()
  let names
  try {
    names = readdirSync(dir)
  } catch {
    return []
  }
  for (const name of names) {
    const match = pattern.exec(name)
    if (match === null) continue
    const n = Number(match[1])
    const gz = match[2] !== undefined
    // Compressed and not yet removed (the runner died in between): the .gz is complete, prefer it.
    if (byNumber.has(n) && !gz) continue
    byNumber.set(n, { n, path: join(dir, name), gz })
  }
  return [...byNumber.values()].sort((a, b) => a.n - b.n)
}

/** The file name of segment n of log `path`. */
export function segmentPath(path, n) {
  return join(dirname(path), `${basename(path).replace(/\.log$/, '')}.${String(n).padStart(4, '0')}.log`)
}

/** Opens log `path` for appending and returns `write(object)`, which returns only once the line is in the kernel. */
export function openLog(path, { fsync = false, segmentBytes = SEGMENT_BYTES } = {}) {
  const last = segmentsOf(path).at(-1)
  let n = last === undefined ? 0 : last.gz ? last.n + 1 : last.n
  let fd = openSync(segmentPath(path, n), 'a')
  let size = fstatSync(fd).size
  // A previous incarnation killed in the middle of its last line (unlikely: write() to a file is
  // not interrupted by signals, but cheap to rule out) would glue that torn line to our first one.
  size += writeAll(fd, Buffer.from('\n'))
  return {
    write(entry) {
      if (size >= segmentBytes) {
        closeSync(fd)
        fd = openSync(segmentPath(path, ++n), 'a')
        size = 0
      }
      size += writeAll(fd, Buffer.from(`${JSON.stringify(entry)}\n`))
      if (fsync) fdatasyncSync(fd)
    },
    close() {
      closeSync(fd)
    },
  }
}

function writeAll(fd, bytes) {
  let offset = 0
  while (offset < bytes.length) {
    try {
      offset += writeSync(fd, bytes, offset)
    } catch (error) {
      if (error.code !== 'EAGAIN') throw error
    }
  }
  return bytes.length
}

/**
 * Compresses every finished segment of log `path` (one with a successor; the last one too when
 * `all`, once its writers are gone for good) below segment `below` that is not compressed yet.
 * Returns the bytes saved.
 */
export async function compressFinished(path, below = Infinity, { all = false } = {}) {
  const segments = segmentsOf(path)
  let saved = 0
  for (const segment of all ? segments : segments.slice(0, -1)) {
    if (segment.gz || segment.n >= below) continue
    const target = `${segment.path}.gz`
    await pipeline(createReadStream(segment.path), createGzip({ level: 4 }), createWriteStream(`${target}.tmp`))
    renameSync(`${target}.tmp`, target)
    const before = fileSize(segment.path)
    rmSync(segment.path, { force: true })
    saved += before - fileSize(target)
  }
  return saved
}

function fileSize(path) {
  try {
    const fd = openSync(path, 'r')
    try {
      return fstatSync(fd).size
    } finally {
      closeSync(fd)
    }
  } catch {
    return 0
  }
}

/** Whether log `path` has any segment. */
export function logExists(path) {
  return segmentsOf(path).length > 0 || existsSync(path)
}

/**
 * Calls `onEntry` with each parsed line of a log (every segment in order), awaiting it when it
 * returns a promise. Blank lines are skipped; a line that is not JSON (a torn last write) is
 * counted in the result and skipped.
 */
export async function readLog(path, onEntry) {
  let torn = 0
  const segments = segmentsOf(path)
  // A plain file of that name (a log written before segments, or by a test).
  if (segments.length === 0 && existsSync(path)) segments.push({ path, gz: false })
  for (const segment of segments) {
    const input = segment.gz ? createReadStream(segment.path).pipe(createGunzip()) : createReadStream(segment.path)
    const lines = createInterface({ input, crlfDelay: Infinity })
    for await (const line of lines) {
      if (line === '') continue
      let entry
      try {
        entry = JSON.parse(line)
      } catch {
        torn++
        continue
      }
      const pending = onEntry(entry)
      if (pending !== undefined && typeof pending.then === 'function') await pending
    }
  }
  return { torn }
}

/** An async iterator over the parsed entries of a log, every segment in order; torn lines are skipped. */
export async function* logEntries(path) {
  const segments = segmentsOf(path)
  if (segments.length === 0 && existsSync(path)) segments.push({ path, gz: false })
  for (const segment of segments) {
    const input = segment.gz ? createReadStream(segment.path).pipe(createGunzip()) : createReadStream(segment.path)
    for await (const line of createInterface({ input, crlfDelay: Infinity })) {
      if (line === '') continue
      let entry
      try {
        entry = JSON.parse(line)
      } catch {
        yield { t: 'torn' }
        continue
      }
      yield entry
    }
  }
}
