import { type Backend, type Query } from '../backends/backend.js'

/** What a scan of the whole change log, and of the records it must cover, found. */
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
  /** Records checked against the log. */
  records: number
  /**
   * Records whose latest write has no entry in the log though the log covers its time: written
   * other than through Tandem (a raw SQL UPDATE, say), or their entry was deleted by hand.
   */
  unlogged: { collection: string; id: string; version: number; logged: number | undefined }[]
}

/** Changes and records read per page. */
const SCAN_PAGE = 5000
const BY_ID: Query = { where: [], orderBy: { field: { kind: 'meta', name: 'id' }, direction: 'asc' } }

/**
 * Checks the change log through the public Backend interface. Seqs between the retention mark and
 * the head may be missing — coalescing deletes a record's earlier entries (docs/changes.md) — so
 * what is checked is what the log promises instead: every record's latest write has an entry
 * (collection, id, a version at least the record's), unless retention has trimmed the log past
 * the record's last write. The records are read first and the log after: a write that lands in
 * between only raises the version the log holds. A record found unlogged is looked at once more
 * before it is reported, in case it was deleted and created again meanwhile.
 */
export async function scanChangeLog(backend: Backend, pageSize = SCAN_PAGE): Promise<ChangeLogScan> {
  const head = await backend.changeHead()
  const records = await readRecordVersions(backend, pageSize)
  const scan: ChangeLogScan = { head, trimmedThrough: 0, first: undefined, count: 0, duplicates: [], records: 0, unlogged: [] }
  /** The newest version the log holds per record, and the time of the log's oldest entry. */
  const logged = new Map<string, number>()
  let oldestAt: number | undefined
  let previous: number | undefined
  for (let cursor = 0; ;) {
    const batch = await backend.readChanges(cursor, pageSize)
    scan.trimmedThrough = batch.trimmedThrough
    for (const change of batch.changes) {
      if (change.seq === previous) {
        if (scan.duplicates.at(-1) !== change.seq) scan.duplicates.push(change.seq)
        continue
      }
      scan.first ??= change.seq
      oldestAt ??= change.at
      scan.count++
      previous = change.seq
      const key = `${change.collection}\u0000${change.id}`
      logged.set(key, Math.max(logged.get(key) ?? 0, change.version))
    }
    const last = batch.changes.at(-1)?.seq
    if (batch.changes.length < pageSize || last === undefined) break
    cursor = last
  }
  for (const record of records) {
    scan.records++
    // Retention may have trimmed the entry of a write not younger than the log's oldest entry.
    if (scan.trimmedThrough > 0 && (oldestAt === undefined || record.updatedAt <= oldestAt)) continue
    const version = logged.get(`${record.collection}\u0000${record.id}`)
    if (version !== undefined && version >= record.version) continue
    const now = await backend.read((tx) => tx.get(record.collection, record.id))
    if (now === undefined || now.version !== record.version || now.updatedAt !== record.updatedAt) continue
    scan.unlogged.push({ collection: record.collection, id: record.id, version: record.version, logged: version })
  }
  return scan
}

/** Every record of the store's own collections (not the internal ones: their writes are not logged). */
async function readRecordVersions(
  backend: Backend,
  pageSize: number,
): Promise<{ collection: string; id: string; version: number; updatedAt: number }[]> {
  const out: { collection: string; id: string; version: number; updatedAt: number }[] = []
  const collections = (await backend.read((tx) => tx.listCollections())).filter((name) => !name.startsWith('_'))
  for (const collection of collections) {
    for (let after: string | undefined; ;) {
      const query: Query = { ...BY_ID, limit: pageSize, ...(after === undefined ? {} : { after: { value: after, id: after } }) }
      const rows = await backend.read((tx) => tx.find(collection, query))
      for (const row of rows) out.push({ collection, id: row.id, version: row.version, updatedAt: row.updatedAt })
      if (rows.length < pageSize) break
      after = rows.at(-1)!.id
    }
  }
  return out
}
