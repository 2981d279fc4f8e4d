import type { CollectionLayout } from '../backends/backend.js'
import { sqliteStoreFile } from '../store/store-file.js'
import { TandemError } from '../errors.js'
import { MIGRATIONS_COLLECTION } from '../migrations/runner.js'
import { checkCollectionFilter, type CollectionsConfig } from '../store/config.js'
import { SEEDS_COLLECTION } from '../store/seeds.js'
import type { Store } from '../store/store.js'
import { checksumCollections } from '../transfer/checksum.js'
import { clearCollection, copyRecords, progressReporter } from './copy-records.js'
import { makeWritable, openEndpoint, refuseSameStore, type CopyEndpoint, type OpenEndpoint } from './copy-endpoint.js'
import { checkOptions } from '../options.js'

/**
 * Internal collections a whole-store copy takes along: the migration history (so the app does not
 * run its migrations again on migrated data) and the seeds already applied (so a seed record a
 * user deleted does not come back). Consumer positions, the process registry and the collection
 * declarations are not copied: they describe the source's change log and processes.
 */
export const COPIED_HISTORY = [MIGRATIONS_COLLECTION, SEEDS_COLLECTION] as const

/** Where a copy is, reported to `onProgress` after every batch committed or verified. */
export interface CopyProgress {
  /** 'clear': removing the target's records (overwrite); 'copy': writing; 'verify': reading the target back. */
  phase: 'clear' | 'copy' | 'verify'
  collection: string
  /** Records of this collection done in this phase so far. */
  done: number
  /** Records of this collection expected (the source's count when the copy started; writes meanwhile may change it). */
  total: number
  /** Records of all collections done in this phase so far, and expected. */
  recordsDone: number
  recordsTotal: number
}

/** copyStore's options. */
export interface CopyOptions<A extends CollectionsConfig = CollectionsConfig, B extends CollectionsConfig = CollectionsConfig> {
  /** The store to copy: an open store, or where it lives, e.g. `{ path: 'data/app.db' }`. It must exist. */
  from: CopyEndpoint<A>
  /** The store to copy into, e.g. `{ url: 'postgres://…', postgres: { schema: 'app' } }`; created if missing. */
  to: CopyEndpoint<B>
  /**
   * Only these collections, in this order. Default: every collection of the source, plus its
   * migration history and applied seeds (see COPIED_HISTORY).
   */
  collections?: readonly string[]
  /** Remove the records a target collection holds before copying into it. Default false: a non-empty target collection is refused. */
  overwrite?: boolean
  /** Records per page read and per write transaction (default 1000, at most 10000). */
  batchSize?: number
  /** Called after every batch (synchronously: keep it quick). */
  onProgress?: (progress: CopyProgress) => void
}

/** What the copy did to one collection, and what the verification found. */
export interface CollectionCopyResult {
  collection: string
  /** Records copied: read from the source and written to the target. */
  count: number
  /** The checksum of the records copied, hashed as they were read from the source (see checksumStore). */
  checksum: string
  /** The target's count and checksum, read back after the copy. */
  target: { count: number; checksum: string }
  /** True when the target's count and checksum equal the source's. */
  ok: boolean
  /** Records the target collection held before, removed by `overwrite`. */
  removed: number
}

/** What copyStore did. */
export interface CopyResult {
  /** Where the stores are: a file, or the server (password hidden) and schema. */
  from: { kind: Store['kind']; location: string }
  to: { kind: Store['kind']; location: string }
  /** True when every collection verified. (copyStore rejects otherwise; the result rides on the error.) */
  ok: boolean
  /** Records copied, over all collections. */
  records: number
  collections: CollectionCopyResult[]
  /** True when the source was read from one snapshot (SQLite in a file): the copy is the source as of one instant. */
  snapshot: boolean
  durationMs: number
}

/**
 * The target does not hold what was copied: a count or checksum differs for at least one
 * collection. The records were copied (each batch committed); `result` lists every collection's
 * figures on both sides.
 */
export class CopyVerificationError extends TandemError {
  readonly result: CopyResult

  constructor(result: CopyResult) {
    const bad = result.collections.filter((c) => !c.ok)
    const figures = bad
      .map(
        (c) =>
          `"${c.collection}": source ${c.count} records (checksum ${c.checksum.slice(0, 12)}), target ${c.target.count} (${c.target.checksum.slice(0, 12)})`,
      )
      .join('; ')
    super(
      'COPY_MISMATCH',
      `The copy does not match its source in ${bad.length} of ${result.collections.length} collections: ${figures}. Another process wrote to the target during the copy, or records were changed or lost on the way.`,
      {
        hint: 'Stop every writer of the target, then copy again with overwrite (tandem copy --overwrite).',
        ...(bad.length === 1 ? { collection: bad[0]!.collection } : {}),
      },
    )
    this.result = result
  }
}

/** Records per page and per write transaction when `batchSize` is not given. */
export const DEFAULT_COPY_BATCH_SIZE = 1000
const COPY_KEYS = ['from', 'to', 'collections', 'overwrite', 'batchSize', 'onProgress']

export interface Plan {
  /** User collections, then the history ones, each with what is expected and what the target holds. */
  collections: { name: string; history: boolean; layout: CollectionLayout; expected: number; present: number }[]
}

/**
 * Copies a whole store, or some collections, into another store on any engine: SQLite →
 * PostgreSQL, PostgreSQL → SQLite, SQLite → SQLite, PostgreSQL → PostgreSQL. Every record keeps its
 * id, version, timestamps, role and data; collections are created on the target (with the indexes
 * declared on the source), and each insert is appended to the target's change log, so its
 * followers see the copy. Records are copied as they are, not validated or ownership-checked again.
 * A whole-store copy also takes the migration history and applied seeds (COPIED_HISTORY), so the
 * app opens the copy as the migrated store it is; with `overwrite` they replace the target's.
 *
 * Streaming: the source is read in keyset pages of `batchSize` records by id (on SQLite in a file,
 * all from one read snapshot), and written in batches, **one write transaction per batch**: memory
 * stays flat on both engines, other writers of the target wait at most one batch, and a batch that
 * PostgreSQL rolls back after a deadlock is simply written again. The price: a copy that fails
 * halfway leaves the batches it committed in the target; run it again with `overwrite`.
 *
 * A target collection that already holds records is refused (DUPLICATE_ID, before anything is
 * written) unless `overwrite`, which deletes them first (logging each delete). Afterwards every
 * collection is verified: the target is read back, and its count and checksum (checksumStore:
 * SHA-256 over canonical JSON of each record with its metadata, in id order) must equal those of
 * the records read from the source. A mismatch rejects with CopyVerificationError, whose `result`
 * lists both sides. A missing source file rejects with NOT_FOUND, copying a store onto itself
 * with TypeError, copying some collections into a target with a migration history of its own
 * with SCHEMA_TOO_NEW.
 *
 * @example
 * const result = await copyStore({
 *   from: { path: 'data/app.db' },
 *   to: { url: 'postgres://app@db:5432/app', postgres: { schema: 'app' } },
 *   onProgress: (p) => console.error(`${p.phase} ${p.collection} ${p.done}/${p.total}`),
 * })
 * console.log(result.records, result.collections.map((c) => c.checksum))
 */
export async function copyStore<A extends CollectionsConfig, B extends CollectionsConfig>(options: CopyOptions<A, B>): Promise<CopyResult> {
  const { wanted, overwrite, batchSize, onProgress } = parseCopyOptions(options)
  const started = performance.now()
  const endpoints: OpenEndpoint[] = []
  try {
    // open both, check everything: nothing is written before this part passes
    const from = (await openEndpoint(options.from, 'from')) as unknown as OpenEndpoint
    endpoints.push(from)
    const to = (await openEndpoint(options.to, 'to')) as unknown as OpenEndpoint
    endpoints.push(to)
    refuseSameStore(from, to)
    const plan = await planCopy(from, to.store, wanted, overwrite)
    const removed = new Map<string, number>()
    if (wanted === undefined) removed.set(MIGRATIONS_COLLECTION, await makeWritable(to, options.to as CopyEndpoint, MIGRATIONS_COLLECTION))
    else refuseMigratedTarget(to)
    const report = progressReporter(plan, onProgress)
    // prepare the target, copy, read it back
    await to.store.runWrite(async (tx) => {
      for (const c of plan.collections) await tx.ensureCollection(c.layout)
    })
    for (const c of plan.collections)
      if (c.present > 0)
        removed.set(c.name, (removed.get(c.name) ?? 0) + (await clearCollection(to.store, c.name, c.history, batchSize, report)))
    const copied = await copyRecords(from.store, to.store, plan, batchSize, report)
    const verified = await checksumCollections(
      to.store,
      plan.collections.map((c) => c.name),
      batchSize,
      (collection, done) => report('verify', collection, done),
    )
    const collections = verified.map((target, i): CollectionCopyResult => {
      const source = copied[i]!
      return {
        collection: source.collection,
        count: source.count,
        checksum: source.checksum,
        target: { count: target.count, checksum: target.checksum },
        ok: source.count === target.count && source.checksum === target.checksum,
        removed: removed.get(source.collection) ?? 0,
      }
    })
    const result: CopyResult = {
      from: { kind: from.store.kind, location: from.location },
      to: { kind: to.store.kind, location: to.location },
      ok: collections.every((c) => c.ok),
      records: collections.reduce((n, c) => n + c.count, 0),
      collections,
      snapshot: sqliteStoreFile(from.store) !== undefined,
      durationMs: Math.round(performance.now() - started),
    }
    if (!result.ok) throw new CopyVerificationError(result)
    return result
  } finally {
    // Only the stores copyStore opened; a close failure after the copy changes nothing written.
    await Promise.all(endpoints.filter((e) => e.opened).map((e) => e.store.close().catch(() => undefined)))
  }
}

function parseCopyOptions<A extends CollectionsConfig, B extends CollectionsConfig>(
  options: CopyOptions<A, B>,
): { wanted: readonly string[] | undefined; overwrite: boolean; batchSize: number; onProgress: CopyOptions['onProgress'] } {
  checkOptions(
    options,
    COPY_KEYS,
    'for copyStore',
    "copyStore needs options like { from: { path: 'data/app.db' }, to: { url: 'postgres://…' } }.",
  )
  const batchSize = options.batchSize ?? DEFAULT_COPY_BATCH_SIZE
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000)
    throw new RangeError(`batchSize must be an integer from 1 to 10000 (got ${String(batchSize)}).`)
  if (options.overwrite !== undefined && typeof options.overwrite !== 'boolean')
    throw new TypeError(`overwrite must be true or false (got ${JSON.stringify(options.overwrite)}).`)
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function')
    throw new TypeError(`onProgress must be a function (got ${typeof options.onProgress}).`)
  const wanted = checkCollectionFilter(options.collections === undefined ? {} : { collections: options.collections })?.collections
  if (wanted !== undefined && new Set(wanted).size !== wanted.length)
    throw new TypeError(`collections names a collection twice (got ${JSON.stringify(wanted)}).`)
  if (wanted?.length === 0)
    throw new TypeError('collections is empty, so there would be nothing to copy; leave it out to copy the whole store.')
  return { wanted, overwrite: options.overwrite ?? false, batchSize, onProgress: options.onProgress }
}

/** What to copy, what each collection should hold, and what the target holds already; refuses before anything is written. */
async function planCopy(from: OpenEndpoint, to: Store, wanted: readonly string[] | undefined, overwrite: boolean): Promise<Plan> {
  const [source, target] = await Promise.all([from.store.describe(), to.describe()])
  const names = source.collections.map((c) => c.name)
  for (const name of wanted ?? []) {
    if (!names.includes(name)) {
      throw new TandemError(
        'UNKNOWN_COLLECTION',
        `Collection "${name}" does not exist in the source store ${from.location}. It has: ${names.join(', ') || '(none)'}.`,
        {
          collection: name,
          hint: 'Leave out collections to copy them all.',
        },
      )
    }
  }
  const count = (store: Store, name: string) => store.runRead((tx) => tx.count(name, []))
  const collections: Plan['collections'] = []
  for (const name of wanted ?? names) {
    const declared = [
      ...(source.collections.find((c) => c.name === name)?.indexes ?? []),
      ...(target.collections.find((c) => c.name === name)?.indexes ?? []),
    ]
    const layout = { name, indexes: [...new Set(declared)].map((field) => field.split('.')) }
    collections.push({
      name,
      history: false,
      layout,
      expected: source.collections.find((c) => c.name === name)!.count,
      present: target.collections.find((c) => c.name === name)?.count ?? 0,
    })
  }
  if (wanted === undefined) {
    for (const name of COPIED_HISTORY)
      collections.push({
        name,
        history: true,
        layout: { name, indexes: [] },
        expected: await count(from.store, name),
        present: await count(to, name),
      })
  }
  // A source opened by path or url that holds nothing is most likely a typo (PostgreSQL creates a missing schema empty).
  if (from.opened && names.length === 0 && collections.every((c) => c.expected === 0)) {
    throw new TandemError('NOT_FOUND', `The source store ${from.location} has no collections and no migration history: nothing to copy.`, {
      hint: 'Check the path, or the url and schema, of the source.',
    })
  }
  const occupied = collections.filter((c) => c.present > 0)
  if (occupied.length > 0 && !overwrite) {
    throw new TandemError(
      'TARGET_NOT_EMPTY',
      `The target store already holds records in ${occupied.map((c) => `"${c.name}" (${c.present})`).join(', ')}; copy refuses to mix two stores' records. Nothing was written.`,
      {
        ...(occupied.length === 1 ? { collection: occupied[0]!.name } : {}),
        hint: 'Copy into a new store, or pass overwrite: true (tandem copy --overwrite) to replace those records.',
      },
    )
  }
  return { collections }
}

/** Copying some collections keeps the target's migration history: refused when it has one this program cannot write under. */
function refuseMigratedTarget(to: OpenEndpoint): void {
  const { storeVersion, knownVersion } = to.store.migrations
  if (storeVersion <= knownVersion) return
  throw new TandemError(
    'SCHEMA_TOO_NEW',
    `The target store ${to.location} has applied migrations up to version ${storeVersion}, which this program does not know; copying only some collections would write data of the source's shape under the target's schema. Nothing was written.`,
    {
      hint: "Copy the whole store (no collections option) with overwrite, which replaces the target's migration history with the source's, or open the target with its migrations and pass the open store as `to`.",
    },
  )
}
