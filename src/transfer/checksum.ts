import { createHash, type Hash } from 'node:crypto'
import type { JsonValue, RecordRow } from '../backends/backend.js'
import { TandemError } from '../errors.js'
import type { CollectionsConfig } from '../store/config.js'
import type { Store } from '../store/store.js'
import { exportRecords } from './export.js'
import { checkOptions } from '../options.js'

/** How many records a collection holds and the checksum of all of them, with their metadata. */
export interface CollectionChecksum {
  collection: string
  count: number
  /** SHA-256 (hex) over the collection's records in id order; see RecordHasher. */
  checksum: string
}

/** checksumStore's options. */
export interface ChecksumOptions {
  /** Only these collections, in this order (internal ones such as `_migrations` may be named). Default: every collection of the store, by name. */
  collections?: readonly string[]
  /** Records read per page (default 1000): the most held in memory at once. */
  pageSize?: number
}

/**
 * JSON text with the keys of every object sorted (by UTF-16 code unit, as Array#sort does), at
 * every depth, and no whitespace. The same data gives the same text whatever order its keys were
 * written in: PostgreSQL's JSONB stores keys sorted its own way, SQLite keeps them as written.
 */
export function canonicalJson(value: JsonValue): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (typeof value === 'object' && value !== null) {
    return `{${Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key]!)}`)
      .join(',')}}`
  }
  return JSON.stringify(value)
}

/**
 * Hashes one collection's records as they stream by, in id order. Each record contributes the
 * canonical JSON of [id, version, createdAt, updatedAt, role, data] (times in milliseconds since
 * the epoch) and a newline, so two stores agree exactly when they hold the same records with the
 * same metadata, in whatever engine and key order. Both engines order ids bytewise (SQLite's
 * BINARY collation, PostgreSQL's COLLATE "C"), so the same records arrive in the same order.
 */
export class RecordHasher {
  readonly collection: string
  #hash: Hash = createHash('sha256')
  #count = 0

  constructor(collection: string) {
    this.collection = collection
  }

  add(row: RecordRow): void {
    this.#hash.update(`${canonicalJson([row.id, row.version, row.createdAt, row.updatedAt, row.role, row.data])}\n`)
    this.#count++
  }

  get count(): number {
    return this.#count
  }

  /** The count and the hex digest; the hasher cannot be used afterwards. */
  finish(): CollectionChecksum {
    return { collection: this.collection, count: this.#count, checksum: this.#hash.digest('hex') }
  }
}

/** Records read per page when `pageSize` is not given. */
export const DEFAULT_CHECKSUM_PAGE_SIZE = 1000

/** The collections with storage in the store, internal ones included. */
export function listCollections<C extends CollectionsConfig>(store: Store<C>): Promise<string[]> {
  return store.runRead((tx) => tx.listCollections())
}

/**
 * The records of one collection in id order, a page at a time (keyset on id), each page its own
 * read. For internal collections, which exportRecords leaves out; they are small.
 */
export async function* readCollection<C extends CollectionsConfig>(
  store: Store<C>,
  collection: string,
  pageSize: number,
): AsyncGenerator<RecordRow> {
  for (let after: string | undefined; ;) {
    const rows = await store.runRead((tx) =>
      tx.find(collection, {
        where: [],
        orderBy: { field: { kind: 'meta', name: 'id' }, direction: 'asc' },
        ...(after === undefined ? {} : { after: { value: after, id: after } }),
        limit: pageSize,
      }),
    )
    for (const { sortValue: _, ...row } of rows) yield row
    if (rows.length < pageSize) return
    after = rows[rows.length - 1]!.id
  }
}

/**
 * The records of `collections` (user collections only) as RecordRows, collection by collection in
 * id order: exportRecords, so on SQLite in a file they come from one read snapshot.
 */
export async function* readUserCollections<C extends CollectionsConfig>(
  store: Store<C>,
  collections: readonly string[],
  pageSize: number,
): AsyncGenerator<{ collection: string; row: RecordRow }> {
  if (collections.length === 0) return
  for await (const record of exportRecords(store, { collections, pageSize })) {
    const row: RecordRow = {
      id: record.id,
      version: record.version,
      createdAt: Date.parse(record.createdAt),
      updatedAt: Date.parse(record.updatedAt),
      role: record.role,
      data: record.data,
    }
    yield { collection: record.collection, row }
  }
}

/**
 * Counts and checksums the records of every collection of the store (or of `collections`), read a
 * page at a time. Two stores, on any engines, give the same figures exactly when the collections
 * hold the same records with the same ids, versions, timestamps, roles and data (compared as
 * JSON values, so key order does not matter). What copyStore compares after a copy; call it on
 * two stores to compare them yourself. Rejects with UNKNOWN_COLLECTION for a collection the store
 * does not have.
 *
 * @example
 * const [a, b] = await Promise.all([checksumStore(sqliteStore), checksumStore(postgresStore)])
 * console.log(JSON.stringify(a) === JSON.stringify(b))
 */
export async function checksumStore<C extends CollectionsConfig>(
  store: Store<C>,
  options: ChecksumOptions = {},
): Promise<CollectionChecksum[]> {
  checkOptions(
    options,
    ['collections', 'pageSize'],
    'for checksumStore',
    'checksumStore options must be an object like { collections: ["tasks"] }.',
  )
  const pageSize = options.pageSize ?? DEFAULT_CHECKSUM_PAGE_SIZE
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 10_000)
    throw new RangeError(`pageSize must be an integer from 1 to 10000 (got ${String(pageSize)}).`)
  const existing = await listCollections(store)
  const wanted = options.collections ?? existing.filter((name) => !name.startsWith('_'))
  if (!Array.isArray(wanted) || wanted.some((name) => typeof name !== 'string') || new Set(wanted).size !== wanted.length) {
    throw new TypeError(`collections must be an array of distinct collection names (got ${JSON.stringify(wanted)}).`)
  }
  for (const name of wanted) {
    if (!existing.includes(name)) {
      throw new TandemError(
        'UNKNOWN_COLLECTION',
        `Collection "${name}" does not exist in this store. Existing: ${existing.filter((n) => !n.startsWith('_')).join(', ') || '(none)'}.`,
        {
          collection: name,
          hint: 'Leave out collections to checksum them all.',
        },
      )
    }
  }
  return checksumCollections(store, wanted, pageSize)
}

/**
 * checksumStore without the option checks: every name in `collections` exists. `onProgress` is
 * told each collection's count every `pageSize` records, and at its end.
 */
export async function checksumCollections<C extends CollectionsConfig>(
  store: Store<C>,
  collections: readonly string[],
  pageSize: number,
  onProgress: (collection: string, done: number) => void = () => undefined,
): Promise<CollectionChecksum[]> {
  const hashers = new Map(collections.map((name) => [name, new RecordHasher(name)]))
  const add = (collection: string, row: RecordRow) => {
    const hasher = hashers.get(collection)!
    hasher.add(row)
    if (hasher.count % pageSize === 0) onProgress(collection, hasher.count)
  }
  const finished = (collection: string) => {
    const count = hashers.get(collection)!.count
    if (count % pageSize !== 0) onProgress(collection, count)
  }
  let current: string | undefined
  for await (const { collection, row } of readUserCollections(
    store,
    collections.filter((name) => !name.startsWith('_')),
    pageSize,
  )) {
    if (current !== undefined && collection !== current) finished(current)
    current = collection
    add(collection, row)
  }
  if (current !== undefined) finished(current)
  for (const name of collections.filter((n) => n.startsWith('_'))) {
    for await (const row of readCollection(store, name, pageSize)) add(name, row)
    finished(name)
  }
  return collections.map((name) => hashers.get(name)!.finish())
}
