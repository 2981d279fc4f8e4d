import type { Change } from '../changes/change.js'
import { ConflictError, notFound } from '../errors.js'
import type { Page, StoredRecord, VersionOptions, InsertOptions, WatchOptions } from '../store/collection.js'
import type { AnyData } from '../store/config.js'
import { checkData } from '../store/data.js'
import { checkId } from '../store/ids.js'
import { parseFindOptions, parseWhere, type FindOptions, type Where } from '../store/query.js'
import type { RemoteChangeStream } from './remote-change-stream.js'
import { watchCollection } from '../store/watch.js'

/** What a remote collection needs from its store: requests (inside the current transaction, if any) and the feed. */
export interface RemoteHost {
  request(method: string, path: string, body?: unknown, write?: boolean): Promise<unknown>
  changes<T>(options: {
    collections: string[]
    ids?: readonly string[]
    since?: WatchOptions['since']
    onInterrupted?: (e: unknown) => void
    onResume?: WatchOptions['onResume']
  }): RemoteChangeStream<T>
  /** Runs `fn` in a transaction of its own (nested in the current one, if any), with a host whose requests go into it. */
  transaction<T>(fn: (host: RemoteHost) => Promise<T>): Promise<T>
}

function checkVersion(options: VersionOptions | undefined): number | undefined {
  const v = options?.ifVersion
  if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw new RangeError(`ifVersion must be a positive integer (got ${String(v)}).`)
  return v
}

const enc = encodeURIComponent

/**
 * One collection of a remote store: the Collection API over HTTP. Arguments and data are checked
 * here as the library checks them (so a Date or NaN fails as INVALID_DATA instead of turning into
 * a string or null on the way); ownership, schemas and versions are checked by the server's store.
 */
export class RemoteCollection<T = AnyData, I = T> {
  readonly name: string
  readonly #host: RemoteHost

  constructor(name: string, host: RemoteHost) {
    this.name = name
    this.#host = host
  }

  get #base(): string {
    return `/v1/collections/${enc(this.name)}`
  }

  #record(id: string): string {
    return `${this.#base}/records/${enc(id)}`
  }

  async insert(data: I, options?: InsertOptions): Promise<StoredRecord<T>> {
    const id = options?.id === undefined ? undefined : checkId(options.id)
    const body = { data: checkData(this.name, data), ...(id === undefined ? {} : { id }) }
    return (await this.#host.request('POST', `${this.#base}/records`, body, true)) as StoredRecord<T>
  }

  async insertMany(items: readonly I[]): Promise<StoredRecord<T>[]> {
    if (!Array.isArray(items)) throw new TypeError(`insertMany takes an array of data objects (got ${typeof items}).`)
    const operations = items.map((item) => ({ op: 'insert', collection: this.name, data: checkData(this.name, item) }))
    if (operations.length === 0) return []
    const { results } = (await this.#host.request('POST', '/v1/transaction', { operations }, true)) as { results: StoredRecord<T>[] }
    return results
  }

  async get(id: string): Promise<StoredRecord<T> | undefined> {
    checkId(id)
    try {
      return (await this.#host.request('GET', this.#record(id))) as StoredRecord<T>
    } catch (error) {
      if ((error as { code?: unknown }).code === 'NOT_FOUND') return undefined
      throw error
    }
  }

  /**
   * Atomic read-modify-write: reads the record, calls `fn` and writes its result in one transaction
   * on the server (its own, or nested in the current one), which holds the store's write lock
   * meanwhile, as a local update does. Calls to the store that `fn` makes join that transaction.
   */
  async update(id: string, fn: (data: T) => I | Promise<I>, options?: VersionOptions): Promise<StoredRecord<T>> {
    checkId(id)
    if (typeof fn !== 'function')
      throw new TypeError(`update takes a function (data) => newData (got ${typeof fn}); use replace() or patch() to write data directly.`)
    const ifVersion = checkVersion(options)
    return this.#host.transaction(async (host) => {
      const locked = new RemoteCollection<T, I>(this.name, host)
      const current = await locked.get(id)
      if (ifVersion !== undefined && current?.version !== ifVersion)
        throw new ConflictError(this.name, id, ifVersion, current?.version ?? null)
      if (current === undefined) throw notFound(this.name, id)
      return locked.replace(id, await fn(current.data))
    })
  }

  async patch(id: string, fields: Partial<I>, options?: VersionOptions): Promise<StoredRecord<T>> {
    checkId(id)
    if (typeof fields !== 'object' || fields === null || Array.isArray(fields))
      throw new TypeError(`patch takes an object of fields (got ${Array.isArray(fields) ? 'an array' : typeof fields}).`)
    const ifVersion = checkVersion(options)
    // JSON has no undefined: fields set to undefined travel in `remove`.
    const set: Record<string, unknown> = {}
    const remove: string[] = []
    for (const [key, value] of Object.entries(fields)) {
      if (value === undefined) remove.push(key)
      else set[key] = value
    }
    const body = {
      set: checkData(this.name, set),
      ...(remove.length > 0 ? { remove } : {}),
      ...(ifVersion === undefined ? {} : { ifVersion }),
    }
    return (await this.#host.request('PATCH', this.#record(id), body, true)) as StoredRecord<T>
  }

  replace(id: string, data: I, options?: VersionOptions): Promise<StoredRecord<T>> {
    return this.#put(id, data, options, 'replace')
  }

  upsert(id: string, data: I, options?: VersionOptions): Promise<StoredRecord<T>> {
    return this.#put(id, data, options, 'upsert')
  }

  async #put(id: string, data: I, options: VersionOptions | undefined, mode: 'replace' | 'upsert'): Promise<StoredRecord<T>> {
    checkId(id)
    const ifVersion = checkVersion(options)
    const body = { data: checkData(this.name, data), mode, ...(ifVersion === undefined ? {} : { ifVersion }) }
    return (await this.#host.request('PUT', this.#record(id), body, true)) as StoredRecord<T>
  }

  async delete(id: string, options?: VersionOptions): Promise<boolean> {
    checkId(id)
    const ifVersion = checkVersion(options)
    const query = ifVersion === undefined ? '' : `?ifVersion=${ifVersion}`
    const { deleted } = (await this.#host.request('DELETE', `${this.#record(id)}${query}`, undefined, true)) as { deleted: boolean }
    return deleted
  }

  async find(options: FindOptions = {}): Promise<StoredRecord<T>[]> {
    parseFindOptions(options) // The library's checks, here: the same errors as a local find, before any request.
    // find without a limit returns every match: page through them.
    if (options.limit !== undefined) return (await this.findPage(options)).records
    const records: StoredRecord<T>[] = []
    let after = options.after
    for (;;) {
      const page = await this.findPage({ ...options, limit: 10_000, ...(after === undefined ? {} : { after }) })
      records.push(...page.records)
      if (page.next === null) return records
      after = page.next
    }
  }

  async findPage(options: FindOptions = {}): Promise<Page<T>> {
    parseFindOptions(options)
    return (await this.#host.request('POST', `${this.#base}/find`, options)) as Page<T>
  }

  async count(where?: Where): Promise<number> {
    parseWhere(where)
    const { count } = (await this.#host.request('POST', `${this.#base}/count`, where === undefined ? {} : { where })) as { count: number }
    return count
  }

  /** As Collection.watch: every change of this collection, from any process, until the returned function is called. */
  watch(listener: (change: Change<T>) => unknown, options: WatchOptions = {}): () => void {
    return watchCollection(this.name, listener, options, (o) => this.#host.changes<T>(o))
  }
}
