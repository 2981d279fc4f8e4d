import { TandemError } from '../../errors.js'
import type {
  ChangeRetention,
  ChangeRow,
  CollectionLayout,
  Condition,
  FoundRow,
  Query,
  ReadTx,
  RecordRow,
  SavepointOptions,
  WriteTx,
} from '../backend.js'
import { coalesced } from '../change-data.js'
import { historyToPrune } from '../change-history.js'
import { steadyNow } from '../steady-clock.js'
import type { StoredRow } from './files-format.js'
import { filterRows, runQuery } from './files-query.js'
import type { StoreState } from './files-layout.js'

/** Where a transaction gets a collection's rows from: undefined when the collection has no file. */
export interface RowSource {
  listCollections(): Promise<string[]>
  rows(collection: string): Promise<Map<string, StoredRow> | undefined>
}

function unknownCollection(collection: string): TandemError {
  return new TandemError(
    'UNKNOWN_COLLECTION',
    `Collection "${collection}" has no file in this store. Declare it in collections, then open the store.`,
    {
      collection,
      hint: 'Declare the collection in openStore({ collections }).',
    },
  )
}

function toFound(row: StoredRow, sortValue: FoundRow['sortValue']): FoundRow {
  const { createdSeq: _seq, ...record } = row
  return { ...record, sortValue }
}

function toRecord(row: StoredRow): RecordRow {
  const { createdSeq: _seq, ...record } = row
  return record
}

/** Reads from a row source (the latest files, or a transaction's working copy). */
export class FilesReader implements ReadTx {
  constructor(protected readonly source: RowSource) {}

  listCollections(): Promise<string[]> {
    return this.source.listCollections()
  }

  async get(collection: string, id: string): Promise<RecordRow | undefined> {
    const row = (await this.#rows(collection)).get(id)
    return row === undefined ? undefined : toRecord(row)
  }

  async find(collection: string, query: Query): Promise<FoundRow[]> {
    return runQuery(await this.#rows(collection), query).map(({ row, sortValue }) => toFound(row, sortValue))
  }

  async count(collection: string, where: readonly Condition[]): Promise<number> {
    return filterRows(await this.#rows(collection), where).length
  }

  async #rows(collection: string): Promise<Map<string, StoredRow>> {
    const rows = await this.source.rows(collection)
    if (rows === undefined) throw unknownCollection(collection)
    return rows
  }
}

/** One undoable step of a transaction. */
type Undo = () => void

/**
 * A write transaction over working copies of the collections it touches; nothing reaches the
 * files until the backend commits it (files-journal.ts). Savepoints keep an undo log.
 */
export class FilesWriteTx extends FilesReader implements WriteTx {
  /** Collections whose file must be rewritten, and those to remove. */
  readonly touched = new Set<string>()
  readonly dropped = new Set<string>()
  readonly changes: ChangeRow[] = []
  /** Entries a trim removes to bound history (see change-history.ts): left out when the log is rewritten at commit. */
  readonly pruned = new Set<number>()
  readonly #undo: Undo[] = []

  constructor(
    readonly working: WorkingSet,
    readonly state: StoreState,
  ) {
    super(working)
  }

  async #mutable(collection: string): Promise<Map<string, StoredRow>> {
    const rows = await this.working.rows(collection)
    if (rows === undefined) throw unknownCollection(collection)
    if (!this.touched.has(collection)) {
      this.touched.add(collection)
      this.#undo.push(() => this.touched.delete(collection))
    }
    return rows
  }

  #put(rows: Map<string, StoredRow>, id: string, row: StoredRow | undefined): void {
    const before = rows.get(id)
    if (row === undefined) rows.delete(id)
    else rows.set(id, row)
    this.#undo.push(() => (before === undefined ? rows.delete(id) : rows.set(id, before)))
  }

  async insert(collection: string, row: RecordRow): Promise<void> {
    const rows = await this.#mutable(collection)
    if (rows.has(row.id)) {
      throw new TandemError('DUPLICATE_ID', `Record ${collection}/${row.id} already exists. Use upsert, or another id.`, {
        collection,
        id: row.id,
        hint: 'Use upsert to overwrite, or pick another id.',
      })
    }
    const createdSeq = this.state.nextCreatedSeq++
    this.#undo.push(() => this.state.nextCreatedSeq--)
    this.#put(rows, row.id, { ...row, createdSeq })
  }

  async update(collection: string, row: RecordRow): Promise<void> {
    const rows = await this.#mutable(collection)
    const before = rows.get(row.id)
    if (before === undefined) return
    this.#put(rows, row.id, { ...row, createdAt: before.createdAt, createdSeq: before.createdSeq })
  }

  async delete(collection: string, id: string): Promise<void> {
    const rows = await this.#mutable(collection)
    if (rows.has(id)) this.#put(rows, id, undefined)
  }

  async savepoint<T>(work: () => Promise<T>, _options?: SavepointOptions): Promise<T> {
    const mark = this.#undo.length
    try {
      return await work()
    } catch (error) {
      while (this.#undo.length > mark) this.#undo.pop()!()
      throw error
    }
  }

  async ensureCollection(layout: CollectionLayout): Promise<void> {
    if ((await this.working.rows(layout.name)) !== undefined && !this.dropped.has(layout.name)) return
    this.working.create(layout.name)
    const wasDropped = this.dropped.delete(layout.name)
    this.touched.add(layout.name)
    this.#undo.push(() => {
      this.working.forget(layout.name)
      this.touched.delete(layout.name)
      if (wasDropped) this.dropped.add(layout.name)
    })
  }

  async dropIndex(_collection: string, _path: readonly string[]): Promise<void> {
    // No indexes: every query reads the whole collection from memory.
  }

  async dropCollection(collection: string): Promise<void> {
    if ((await this.working.rows(collection)) === undefined) return
    const wasTouched = this.touched.delete(collection)
    const rows = this.working.forget(collection)
    this.dropped.add(collection)
    this.#undo.push(() => {
      this.dropped.delete(collection)
      if (rows !== undefined) this.working.restore(collection, rows)
      if (wasTouched) this.touched.add(collection)
    })
  }

  async lock(_key: string): Promise<void> {
    // The store-wide file lock of this transaction already excludes every other writer.
  }

  appendChange(change: Omit<ChangeRow, 'seq'>): void {
    const seq = this.state.seq + this.changes.length + 1
    this.changes.push({ ...change, seq })
    this.#undo.push(() => this.changes.pop())
  }

  /** Retention: the log is trimmed at commit (the backend rewrites changes.jsonl); here only the mark moves. */
  async trimChanges(retention: ChangeRetention, now: number): Promise<number> {
    const committed = await this.working.committedChanges()
    const all = [...committed, ...this.changes]
    let pruned = 0
    if (retention.history !== undefined) {
      const live = coalesced(all).filter((c) => c.seq > this.state.trimmedThrough && !this.pruned.has(c.seq))
      for (const seq of historyToPrune(live, retention.history, steadyNow(now))) {
        this.pruned.add(seq)
        this.#undo.push(() => this.pruned.delete(seq))
        pruned++
      }
    }
    return pruned + this.#trimLog(all, retention, now)
  }

  #trimLog(all: readonly ChangeRow[], retention: ChangeRetention, now: number): number {
    const head = all.at(-1)?.seq ?? this.state.seq
    const first = all.findIndex((c) => c.seq > this.state.trimmedThrough)
    const live = first < 0 ? [] : all.slice(first)
    const oldest = live[0]
    const cutoff = steadyNow(now) - retention.maxAgeMs
    if (oldest === undefined || (head - oldest.seq + 1 <= retention.maxCount && oldest.at >= cutoff)) return 0
    // As SQLite: from the oldest end only; by age up to the first young entry among the oldest 10,000; never the newest.
    const window = live.slice(0, 10_000)
    const young = window.find((c) => c.at >= cutoff)
    const byAge = young === undefined ? (window.at(-1)?.seq ?? 0) : young.seq - 1
    const through = Math.min(Math.max(head - retention.maxCount, byAge), head - 1)
    const previous = this.state.trimmedThrough
    if (through <= previous) return 0
    this.state.trimmedThrough = through
    this.#undo.push(() => (this.state.trimmedThrough = previous))
    return live.filter((c) => c.seq <= through).length
  }
}

/** The collections a transaction works on: loaded from the files on first use, changed in memory. */
export interface WorkingSet extends RowSource {
  create(collection: string): void
  forget(collection: string): Map<string, StoredRow> | undefined
  restore(collection: string, rows: Map<string, StoredRow>): void
  committedChanges(): Promise<ChangeRow[]>
}
