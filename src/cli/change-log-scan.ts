import { type Backend } from '../backends/backend.js'

/** What a scan of the whole change log found. */
export interface ChangeLogScan {
  /** The head when the scan started, and the retention mark (changes up to it were trimmed on purpose). */
  head: number
  trimmedThrough: number
  /** The lowest seq held (undefined: the log is empty). */
  first: number | undefined
  /** Changes read. */
  count: number
  /** Seqs the log holds more than once (only a damaged table can). */
  duplicates: number[]
}

/** Changes read per page. */
const SCAN_PAGE = 5000

/**
 * Reads the change log from its oldest entry to the head (as it was when the scan started), a page
 * at a time, through the public Backend interface. Seqs between the retention mark and the head
 * may be missing — coalescing deletes a record's earlier entries (docs/changes.md) — so what is
 * checked is that none is held twice. (Whether each record's latest write is in the log is the
 * doctor's "writes outside Tandem" check, SQLite's auditWrites.) A page ending on a seq held twice
 * would hide the second copy from the next page (`seq > cursor`), so each page starts one seq back
 * and skips what it saw already.
 */
export async function scanChangeLog(backend: Backend, pageSize = SCAN_PAGE): Promise<ChangeLogScan> {
  const head = await backend.changeHead()
  const scan: ChangeLogScan = { head, trimmedThrough: 0, first: undefined, count: 0, duplicates: [] }
  let previous: number | undefined
  let cursor = 0
  // Rows with seq === previous seen at the end of the last page, to skip when the next page repeats them.
  let seenAtEnd = 0
  for (;;) {
    const batch = await backend.readChanges(cursor, pageSize)
    scan.trimmedThrough = batch.trimmedThrough
    let skip = seenAtEnd
    let last: number | undefined
    let atEnd = 0
    for (const { seq } of batch.changes) {
      if (seq > head) return scan
      if (seq === previous && skip > 0) {
        skip--
        last = seq
        atEnd++
        continue
      }
      if (seq === previous) {
        if (scan.duplicates.at(-1) !== seq) scan.duplicates.push(seq)
      } else scan.first ??= seq
      scan.count++
      atEnd = seq === last ? atEnd + 1 : 1
      last = seq
      previous = seq
    }
    if (batch.changes.length < pageSize || last === undefined || last >= head) return scan
    // A page of one seq repeated pageSize times cannot be stepped over: report it and stop.
    if (atEnd >= pageSize) return scan
    cursor = last - 1
    seenAtEnd = atEnd
  }
}
