// The append-only logs every torture process keeps: one JSON object per line.
//
// A line is handed to the kernel with one synchronous write() before the call returns, so it
// survives a SIGKILL of the writer the instant after (the page cache belongs to the kernel, not to
// the process). fsync is only needed to survive a power cut, which the harness does not simulate;
// `fsync: true` adds one per line anyway for runs on machines that might be reset.
import { closeSync, createReadStream, fdatasyncSync, openSync, writeSync } from 'node:fs'
import { createInterface } from 'node:readline'

/** The clock every process shares: CLOCK_MONOTONIC is system-wide on Linux, so times compare across processes. */
export function clock(startNs) {
  const start = BigInt(startNs)
  /** Microseconds since the run started. */
  return () => Number((process.hrtime.bigint() - start) / 1000n)
}

/** Opens `path` for appending and returns `write(object)`, which returns only once the line is in the kernel. */
export function openLog(path, { fsync = false } = {}) {
  const fd = openSync(path, 'a')
  // A previous incarnation killed in the middle of its last line (unlikely: write() to a file is
  // not interrupted by signals, but cheap to rule out) would glue that torn line to our first one.
  writeAll(fd, Buffer.from('\n'))
  return {
    write(entry) {
      writeAll(fd, Buffer.from(`${JSON.stringify(entry)}\n`))
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
}

/**
 * Calls `onEntry` with each parsed line of a log, in order. Blank lines are skipped; a line that is
 * not JSON (a torn last write) is counted in the result and skipped.
 */
export async function readLog(path, onEntry) {
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity })
  let torn = 0
  for await (const line of lines) {
    if (line === '') continue
    let entry
    try {
      entry = JSON.parse(line)
    } catch {
      torn++
      continue
    }
    onEntry(entry)
  }
  return { torn }
}
