import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import {
  DEFAULT_CAPABILITIES,
  type Backend,
  type BackendCapabilities,
  type ChangeBatch,
  type ChangeFilter,
  type ChangeRow,
  type CollectionLayout,
  type ReadTx,
  type StorageInfo,
  type WriteOptions,
  type WriteTx,
} from '../backend.js'
import { refuseCaseAliases } from '../collection-names.js'
import { TandemError } from '../../errors.js'
import { cleanUpLeftovers } from '../../fs/leftovers.js'
import { removeQuietly } from '../../fs/durable-file.js'
import { attachRecordData, coalesced, idsToLookUp, type CurrentRecord } from '../change-data.js'
import { deltaChainsIn, rebuildFromDeltas } from '../change-history.js'
import { changeLine, collectionText, parseCollection, type StoredRow } from './files-format.js'
import { reconcileHandEdit, HAND_EDIT_ROLE } from './files-hand-edits.js'
import { commitJournal, recoverJournal, stageFile, type Journal } from './files-journal.js'
import {
  collectionFile,
  contentHash,
  EMPTY_STATE,
  filesLayout,
  shadowFile,
  statIdentity,
  type FilesLayout,
  type StoreState,
} from './files-layout.js'
import { withStoreLock } from './files-locks.js'
import { ChangeLogReader } from './files-changes.js'
import { FilesReader, FilesWriteTx, type RowSource, type WorkingSet } from './files-transaction.js'
import { watchFiles } from './files-wake.js'

/** Options of the files backend (openStore({ files: { dir } }) or openFilesBackend). */
export interface FilesConfig {
  /** The store's directory; created (mode 0700) when missing. */
  dir: string
  /** How long a write waits for another process's store lock before BUSY_TIMEOUT (default 30,000). */
  busyTimeoutMs?: number
  /** Create nothing and clean nothing up at open (openStore's readOnly; the store layer refuses writes). */
  readOnly?: boolean
}

const COLLECTION_FILE = /^(.+)\.jsonl$/

/** What the files backend cannot do, and so declares; the store and the tests branch on these. */
export const FILES_CAPABILITIES: BackendCapabilities = Object.freeze({
  ...DEFAULT_CAPABILITIES,
  // Creating or dropping a collection is part of the commit's journal, like any write.
  transactionalDdl: true,
})

/**
 * A store kept in plain text files that people can read, diff and edit: one JSON line per record,
 * sorted by id, under `<dir>/collections/`. Every write takes the store-wide lock file, so writes
 * from all processes are serialized; a commit is atomic across files (files-journal.ts). Reads
 * take no lock. A collection file edited by hand is reconciled by the next writer (or by a process
 * watching the store): the edits become versions and changes on the feed, or, when a line is
 * invalid, every read and write of that collection fails naming the line until it is fixed.
 */
export class FilesBackend implements Backend {
  readonly kind = 'files' as const
  readonly capabilities = FILES_CAPABILITIES
  readonly layout: FilesLayout
  readonly #busyTimeoutMs: number
  readonly #readOnly: boolean
  /** Committed rows per collection as last read, keyed by the file's stat identity. */
  readonly #cache = new Map<string, { identity: string; rows: Map<string, StoredRow> }>()
  readonly #changes: ChangeLogReader
  readonly #listeners = new Set<() => void>()
  #closed = false

  private constructor(config: Required<FilesConfig>) {
    this.layout = filesLayout(resolve(config.dir))
    this.#busyTimeoutMs = config.busyTimeoutMs
    this.#readOnly = config.readOnly
    this.#changes = new ChangeLogReader(this.layout.changes)
  }

  /** Opens (creating the directories if needed) the files store in `config.dir`, cleaning up what dead processes left. */
  static async open(config: FilesConfig): Promise<FilesBackend> {
    const backend = new FilesBackend({ busyTimeoutMs: 30_000, readOnly: false, ...config })
    const { dir, collections, internal, shadow } = backend.layout
    if (config.readOnly === true) return backend
    for (const folder of [dir, collections, internal, shadow]) mkdirSync(folder, { recursive: true, mode: 0o700 })
    // Temp files of writers that died mid-commit, and dead locks and takeover claims. Under the
    // store lock and after finishing an interrupted commit: before that, a dead writer's staged
    // files are not orphans but the very files its journal renames into place.
    await withStoreLock(backend.layout, backend.#busyTimeoutMs, async () => {
      recoverJournal(backend.layout)
      for (const folder of [dir, collections, internal, shadow]) await cleanUpLeftovers(folder)
    })
    return backend
  }

  // ---- reads

  readState(): StoreState {
    try {
      return JSON.parse(readFileSync(this.layout.state, 'utf8')) as StoreState
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return structuredClone(EMPTY_STATE)
      throw error
    }
  }

  listCollectionNames(): string[] {
    let names: string[]
    try {
      names = readdirSync(this.layout.collections)
    } catch {
      return []
    }
    return names
      .map((n) => COLLECTION_FILE.exec(n)?.[1])
      .filter((n): n is string => n !== undefined && !n.startsWith('.'))
      .sort()
  }

  /** The committed rows of a collection as its file holds them now (a hand edit included); undefined without a file. */
  committedRows(collection: string): Map<string, StoredRow> | undefined {
    const file = collectionFile(this.layout, collection)
    const stat = statSync(file, { throwIfNoEntry: false })
    if (stat === undefined) return undefined
    const identity = statIdentity(stat)
    const cached = this.#cache.get(collection)
    if (cached?.identity === identity) return cached.rows
    const text = readFileSync(file, 'utf8')
    const at = Math.floor(stat.mtimeMs)
    const rows = parseCollection(text, file, () => ({ version: 1, role: HAND_EDIT_ROLE, createdAt: at, updatedAt: at, createdSeq: 0 }))
    this.#cache.set(collection, { identity, rows })
    return rows
  }

  readonly #latest: RowSource = {
    listCollections: async () => this.listCollectionNames(),
    rows: async (collection) => this.committedRows(collection),
  }

  async read<T>(work: (tx: ReadTx) => Promise<T>): Promise<T> {
    this.#checkOpen()
    return work(new FilesReader(this.#latest))
  }

  async readChanges(cursor: number, limit: number, filter?: ChangeFilter): Promise<ChangeBatch> {
    this.#checkOpen()
    const state = this.readState()
    const all = coalesced(this.#changes.read(state.seq))
    const changes: ChangeRow[] = []
    let scannedThrough = state.seq
    for (const change of all) {
      if (change.seq <= cursor || change.seq <= state.trimmedThrough) continue
      if (filter?.collections !== undefined && !filter.collections.includes(change.collection)) continue
      if (filter?.ids !== undefined && !filter.ids.includes(change.id)) continue
      // A copy: the feed gives each reader its own rows (attachRecordData fills them in).
      changes.push({ ...change })
      if (changes.length === limit) {
        scannedThrough = change.seq
        break
      }
    }
    const found = this.#currentRecords(changes)
    // A hand edit not yet reconciled keeps the record's version: it is no base for the deltas
    // (its chain counts as broken, and its changes carry the current data, superseded).
    const chains = deltaChainsIn(all, changes)
    if (chains.length > 0) rebuildFromDeltas(changes, chains, new Map([...found].filter(([c]) => !this.#handEdited(c, state))))
    attachRecordData(changes, found)
    return { changes, scannedThrough, trimmedThrough: state.trimmedThrough }
  }

  /**
   * The records a batch of changes without copies needs (see change-data.ts), as their files hold
   * them now: read after the log, and a record's version only grows, so never older than a change.
   */
  #currentRecords(changes: readonly ChangeRow[]): Map<string, Map<string, CurrentRecord>> {
    const found = new Map<string, Map<string, CurrentRecord>>()
    for (const [collection, ids] of idsToLookUp(changes)) {
      const rows = this.committedRows(collection)
      const records = new Map<string, CurrentRecord>()
      for (const id of ids) {
        const row = rows?.get(id)
        if (row !== undefined) records.set(id, { id, version: row.version, data: row.data })
      }
      found.set(collection, records)
    }
    return found
  }

  async changeHead(): Promise<number> {
    this.#checkOpen()
    return this.readState().seq
  }

  // ---- writes

  async prepare(collections: readonly CollectionLayout[]): Promise<void> {
    await this.write(async (tx) => {
      refuseCaseAliases(await tx.listCollections(), collections)
      for (const layout of collections) await tx.ensureCollection(layout)
    })
  }

  async write<T>(work: (tx: WriteTx) => Promise<T>, options: WriteOptions = {}): Promise<T> {
    this.#checkOpen()
    const result = await withStoreLock(this.layout, options.busyTimeoutMs ?? this.#busyTimeoutMs, async () => {
      // A writer that died mid-commit left its journal: finish its commit before reading anything.
      recoverJournal(this.layout)
      const state = this.readState()
      const tx: FilesWriteTx = new FilesWriteTx(
        this.#workingSet(state, (): FilesWriteTx => tx),
        state,
      )
      const value = await work(tx)
      await this.#commit(tx)
      return value
    })
    for (const listener of this.#listeners) listener()
    return result
  }

  /** Working copies of the collections a transaction touches; a collection's hand edits are reconciled as it is first loaded. */
  #workingSet(state: StoreState, tx: () => FilesWriteTx): WorkingSet {
    const loaded = new Map<string, Map<string, StoredRow> | undefined>()
    let changesCache: ChangeRow[] | undefined
    return {
      listCollections: async () => {
        const names = new Set(this.listCollectionNames())
        for (const [name, rows] of loaded) {
          if (rows === undefined) names.delete(name)
          else names.add(name)
        }
        return [...names].sort()
      },
      rows: async (collection) => {
        if (!loaded.has(collection)) loaded.set(collection, this.#loadForWrite(collection, state, tx()))
        return loaded.get(collection)
      },
      create: (collection) => void loaded.set(collection, new Map()),
      forget: (collection) => {
        const rows = loaded.get(collection)
        loaded.set(collection, undefined)
        return rows
      },
      restore: (collection, rows) => void loaded.set(collection, rows),
      committedChanges: async () => (changesCache ??= this.#changes.read(state.seq)),
    }
  }

  /** Whether the collection's file differs from what Tandem last wrote (a hand edit the next write reconciles). */
  #handEdited(collection: string, state: StoreState): boolean {
    const known = state.files[collection]
    const stat = statSync(collectionFile(this.layout, collection), { throwIfNoEntry: false })
    if (known === undefined || stat === undefined || statIdentity(stat) === known.identity) return false
    return contentHash(readFileSync(collectionFile(this.layout, collection), 'utf8')) !== known.hash
  }

  #loadForWrite(collection: string, state: StoreState, tx: FilesWriteTx): Map<string, StoredRow> | undefined {
    const file = collectionFile(this.layout, collection)
    const stat = statSync(file, { throwIfNoEntry: false })
    if (stat === undefined) return undefined
    const known = state.files[collection]
    if (known === undefined || statIdentity(stat) === known.identity) return new Map(this.committedRows(collection))
    const text = readFileSync(file, 'utf8')
    if (contentHash(text) === known.hash) return new Map(this.committedRows(collection))
    // Someone edited the file since Tandem wrote it: what changed is what differs from the shadow copy.
    let before = new Map<string, StoredRow>()
    try {
      const shadow = readFileSync(shadowFile(this.layout, collection), 'utf8')
      if (contentHash(shadow) === known.hash)
        before = parseCollection(shadow, file, () => ({ version: 1, role: '', createdAt: 0, updatedAt: 0, createdSeq: 0 }))
    } catch {
      // No shadow (a crash lost it): every record in the file is announced as an insert.
    }
    const edit = reconcileHandEdit(collection, file, text, before, Date.now(), () => state.nextCreatedSeq++)
    for (const change of edit.changes) tx.appendChange(change)
    tx.touched.add(collection)
    return edit.rows
  }

  async #commit(tx: FilesWriteTx): Promise<void> {
    const { state } = tx
    const before = this.readState()
    const untouched = tx.touched.size === 0 && tx.dropped.size === 0 && tx.changes.length === 0 && tx.pruned.size === 0
    if (untouched && state.trimmedThrough === before.trimmedThrough && state.nextCreatedSeq === before.nextCreatedSeq) return
    const journal: Journal = { renames: [], removals: [] }
    const written = new Map<string, { identity: string; rows: Map<string, StoredRow> }>()
    try {
      for (const collection of tx.touched) {
        const rows = (await tx.working.rows(collection))!
        const text = collectionText(rows.values())
        const temp = stageFile(collectionFile(this.layout, collection), text)
        const identity = statIdentity(statSync(temp))
        state.files[collection] = { identity, hash: contentHash(text) }
        written.set(collection, { identity, rows })
        journal.renames.push(
          [temp, collectionFile(this.layout, collection)],
          [stageFile(shadowFile(this.layout, collection), text, false), shadowFile(this.layout, collection)],
        )
      }
      for (const collection of tx.dropped) {
        delete state.files[collection]
        journal.removals.push(collectionFile(this.layout, collection), shadowFile(this.layout, collection))
      }
      const newLines = tx.changes.map((c) => `${changeLine(c)}\n`).join('')
      if (state.trimmedThrough > before.trimmedThrough || tx.pruned.size > 0) {
        // Retention moved the trim mark or bounded some history: rewrite the log without the
        // trimmed and pruned entries, coalesced.
        const kept = coalesced([...this.#changes.read(before.seq), ...tx.changes]).filter(
          (c) => c.seq > state.trimmedThrough && !tx.pruned.has(c.seq),
        )
        const text = kept.map((c) => `${changeLine(c)}\n`).join('')
        journal.renames.push([stageFile(this.layout.changes, text), this.layout.changes])
        state.changesBytes = Buffer.byteLength(text)
      } else if (newLines !== '') {
        journal.append = { offset: before.changesBytes, text: newLines }
        state.changesBytes = before.changesBytes + Buffer.byteLength(newLines)
      }
      state.seq += tx.changes.length
      // The state goes last: a reader that sees this head finds every file it names in place.
      journal.renames.push([stageFile(this.layout.state, `${JSON.stringify(state, null, 1)}\n`), this.layout.state])
    } catch (error) {
      for (const [temp] of journal.renames) removeQuietly(temp)
      throw new TandemError(
        'STORAGE_FAILURE',
        `Could not write the files store in ${this.layout.dir}: ${(error as Error).message}. Nothing was written.`,
        {
          cause: error,
          hint: 'Check free disk space and file permissions, then run "tandem doctor".',
        },
      )
    }
    await commitJournal(this.layout, journal)
    for (const [collection, entry] of written) this.#cache.set(collection, entry)
    for (const collection of tx.dropped) this.#cache.delete(collection)
  }

  /** Reconciles hand edits of `collection` now (a watcher saw its file change); a bad line is reported by the next read or write. */
  async reconcile(collection: string): Promise<void> {
    if (this.#readOnly) return // a read-only process writes nothing, hand edits included: the next writer announces them
    const known = this.readState().files[collection]
    const stat = statSync(collectionFile(this.layout, collection), { throwIfNoEntry: false })
    if (stat === undefined || known === undefined || statIdentity(stat) === known.identity) return
    await this.write(async (tx) => {
      await tx.count(collection, [])
    }).catch(() => undefined)
  }

  watchCommits(onCommit: () => void): () => void {
    this.#listeners.add(onCommit)
    const stop = watchFiles(this.layout, onCommit, (collection) => void this.reconcile(collection))
    return () => {
      this.#listeners.delete(onCommit)
      stop()
    }
  }

  async storageInfo(): Promise<StorageInfo> {
    let bytes = statSync(this.layout.changes, { throwIfNoEntry: false })?.size ?? 0
    for (const name of this.listCollectionNames())
      bytes += statSync(collectionFile(this.layout, name), { throwIfNoEntry: false })?.size ?? 0
    return { location: this.layout.dir, bytes }
  }

  async checkIntegrity(): Promise<string[]> {
    const problems: string[] = []
    for (const name of this.listCollectionNames()) {
      try {
        this.committedRows(name)
      } catch (error) {
        problems.push((error as Error).message)
      }
    }
    return problems.length === 0 ? ['ok'] : problems
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#listeners.clear()
  }

  #checkOpen(): void {
    if (this.#closed) throw new TandemError('STORE_CLOSED', 'The files store is closed.', { hint: 'Open it again with openStore().' })
  }
}

/** Opens the files backend (openStore({ files: { dir } }) does this for you). */
export function openFilesBackend(config: FilesConfig): Promise<FilesBackend> {
  return FilesBackend.open(config)
}
