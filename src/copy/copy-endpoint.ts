import { statSync } from 'node:fs'
import { resolve } from 'node:path'
import { TandemError } from '../errors.js'
import type { CollectionsConfig, StoreConfig } from '../store/config.js'
import { openStore } from '../open/open-store.js'
import { Store } from '../store/store.js'
import { checkOptions } from '../options.js'

/**
 * Where a store to copy from or to lives: openStore's location options (`path`/`dataDir` for
 * SQLite, `url` and `postgres.schema` for PostgreSQL), `busyTimeoutMs`, `durability`, and the
 * role to register as while copying (default 'copy'). No collections: the copy reads and creates
 * whatever the store holds.
 */
export type CopyStoreConfig = Pick<StoreConfig, 'path' | 'dataDir' | 'url' | 'postgres' | 'busyTimeoutMs' | 'durability'> & {
  role?: string
}

/** A store to copy from or to: an open store (left open), or where to open one (closed afterwards). */
export type CopyEndpoint<C extends CollectionsConfig = CollectionsConfig> = Store<C> | CopyStoreConfig

/** The role a store opened by copyStore registers as. */
export const COPY_ROLE = 'copy'
const CONFIG_KEYS = ['path', 'dataDir', 'url', 'postgres', 'busyTimeoutMs', 'durability', 'role']

/** An endpoint, opened: the store, whether copyStore opened it (and must close it), and where it is. */
export interface OpenEndpoint<C extends CollectionsConfig = CollectionsConfig> {
  /** Replaced by makeWritable when it reopens the store. */
  store: Store<C>
  opened: boolean
  /** The database file, or the server (password hidden) and schema. */
  location: string
}

/**
 * Opens `endpoint` (or takes the open store). A source must exist: a missing SQLite file is refused
 * (NOT_FOUND) instead of being created empty. Stores are opened with no collections declared, and
 * read-only when they have applied migrations (this program knows none of them): for a target, see
 * makeWritable.
 */
export async function openEndpoint<C extends CollectionsConfig>(endpoint: CopyEndpoint<C>, side: 'from' | 'to'): Promise<OpenEndpoint<C>> {
  if (endpoint instanceof Store) return { store: endpoint, opened: false, location: await locationOf(endpoint) }
  const config = checkConfig(endpoint, side)
  if (side === 'from' && config.url === undefined) refuseMissingFile(config)
  const store = await openConfig<C>(config)
  try {
    return { store, opened: true, location: await locationOf(store) }
  } catch (error) {
    await store.close().catch(() => undefined)
    throw error
  }
}

function openConfig<C extends CollectionsConfig>(config: CopyStoreConfig): Promise<Store<C>> {
  const { role, ...where } = config
  return openStore({ ...where, role: role ?? COPY_ROLE, collections: {}, onNewerSchema: 'read-only' }) as unknown as Promise<Store<C>>
}

/**
 * A target that has applied migrations (a previous copy, or a store the app migrated) opens
 * read-only: this program knows none of its migrations. Its history is about to be replaced by
 * the source's (the caller checked `overwrite`), so it is removed first, through the engine
 * directly (the store refuses writes), and the store opened again, now writable. Resolves with the
 * number of history records removed. A target passed in as an open store is left as it is.
 */
export async function makeWritable<C extends CollectionsConfig>(
  endpoint: OpenEndpoint<C>,
  config: CopyEndpoint<C>,
  history: string,
): Promise<number> {
  const { storeVersion, knownVersion } = endpoint.store.migrations
  if (storeVersion <= knownVersion || !endpoint.opened || config instanceof Store) return 0
  // The store is read-only: its write queue is idle and stays so, nothing races these deletes.
  const removed = await endpoint.store.backend.write(async (tx) => {
    const rows = await tx.find(history, { where: [], orderBy: { field: { kind: 'meta', name: 'id' }, direction: 'asc' } })
    for (const row of rows) await tx.delete(history, row.id)
    return rows.length
  })
  await endpoint.store.close()
  endpoint.store = await openConfig<C>(config)
  return removed
}

/** Refuses copying a store onto itself: the same handle, the same file, or the same server and schema. */
export function refuseSameStore(from: OpenEndpoint, to: OpenEndpoint): void {
  if (from.store !== to.store && (from.location !== to.location || from.location === ':memory:')) return
  throw new TypeError(`from and to are the same store (${from.location}); copy needs two different stores.`)
}

async function locationOf<C extends CollectionsConfig>(store: Store<C>): Promise<string> {
  return (await store.backend.storageInfo?.())?.location ?? `a ${store.kind} store`
}

function checkConfig(config: unknown, side: 'from' | 'to'): CopyStoreConfig {
  const example = `an open store, or where one lives: { path: 'data/app.db' } or { url: 'postgres://…', postgres: { schema: 'app' } }`
  checkOptions(config, CONFIG_KEYS, `in ${side}`, `${side} must be ${example} (got ${JSON.stringify(config)}).`)
  const given = config as CopyStoreConfig
  if (given.path === undefined && given.dataDir === undefined && given.url === undefined)
    throw new TypeError(`${side} must be ${example} (got neither path, dataDir nor url).`)
  if (side === 'from' && given.path === ':memory:')
    throw new TypeError("from cannot be { path: ':memory:' }: a new in-memory store is empty. Pass the open store instead.")
  return given
}

function refuseMissingFile(config: CopyStoreConfig): void {
  // stat only, never open: the file may be a live store of another process (see safe-path.ts).
  const file = config.dataDir === undefined ? resolve(config.path!) : resolve(config.dataDir, config.path ?? 'tandem.db')
  if (statSync(file, { throwIfNoEntry: false }) !== undefined) return
  throw new TandemError('NOT_FOUND', `The source store ${file} does not exist; nothing was copied (and nothing created).`, {
    hint: 'Check the path: relative paths are taken from the working directory (or from dataDir).',
  })
}
