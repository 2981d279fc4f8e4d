import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { onTestFinished } from 'vitest'
import { TandemError, openStore, type CollectionsConfig, type Store, type StoreConfig, type TandemErrorCode } from '../../src/index.js'
import { openRemoteStore } from '../../src/client.js'
import { forkWorker } from './processes.js'

/** What a conformance test passes to open a store: everything but where it lives. */
export type TestStoreConfig<C extends CollectionsConfig> = Omit<StoreConfig<C>, 'path' | 'dataDir' | 'backend'>

/** Opens stores on one fresh location; every store opened through it is closed after the test. */
export type StoreOpener = <C extends CollectionsConfig>(config: TestStoreConfig<C>) => Promise<Store<C>>

/**
 * Behaviours a target does not have, each with the reason (docs/http-api.md, Remote stores). The
 * conformance tests of a behaviour skip on a target that lacks it: `test.skipIf(backend.lacks.engine !== undefined)`.
 */
export interface TargetLacks {
  /** The test reaches into the engine or process of the store (store.backend, runRead, settings, processes' pids, the lease holder's pid). */
  engine?: string
  /** Migrations are functions: they run in the process that opens the store. */
  migrations?: string
  /** A schema without a JSON Schema export (valibot) cannot be rebuilt in the test's server process. */
  opaqueSchemas?: string
  /** Environment variables (retention overrides) are read by the process that opens the store. */
  environment?: string
  /** since 'now' is fixed when the server receives the stream's request: only the same client's writes wait for it. */
  sharedNow?: string
}

export interface BackendTarget {
  name: 'sqlite' | 'postgres' | 'files' | 'remote'
  lacks: TargetLacks
  /** A fresh, empty location for this test; open it as many times as you like (each is like another process). */
  tempStore(): Promise<StoreOpener>
}

/** A private temp directory removed when the test ends. */
export function tempDir(prefix = 'tandem-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function opener(where: Pick<StoreConfig, 'path' | 'dataDir'>): StoreOpener {
  return async (config) => {
    const store = await openStore({ ...config, ...where })
    onTestFinished(() => store.close())
    return store
  }
}

const sqlite: BackendTarget = {
  name: 'sqlite',
  lacks: {},
  async tempStore() {
    return opener({ dataDir: tempDir(), path: 'store.db' })
  },
}

/** A files store (plain text files) in a fresh directory; each open is a new backend instance, like another process. */
const files: BackendTarget = {
  name: 'files',
  lacks: {},
  async tempStore() {
    const dir = join(tempDir(), 'store')
    return async (config) => {
      const store = await openStore({ ...config, files: { dir } })
      onTestFinished(() => store.close())
      return store
    }
  },
}

/** The PostgreSQL server the tests use: TANDEM_PG_URL, else the local one with trust auth. */
export const PG_URL = process.env.TANDEM_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

let schemas = 0

/** A schema name no other test (in any process) uses. */
export function uniqueSchema(prefix = 't'): string {
  return `${prefix}_${process.pid}_${++schemas}_${Math.random().toString(36).slice(2, 8)}`
}

/** Runs SQL on a short-lived connection of its own (not a store's): setup, inspection, cleanup. */
export async function pgAdmin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: PG_URL, application_name: 'tandem-test-admin' })
  client.on('error', () => undefined)
  await client.connect()
  try {
    return await work(client)
  } finally {
    await client.end().catch(() => undefined)
  }
}

/** Drops a test schema and everything in it, when the test ends (after its stores have closed). */
export function dropSchemaAfterTest(schema: string, before: () => Promise<unknown> = async () => undefined): void {
  onTestFinished(async () => {
    await before()
    await pgAdmin((client) => client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`))
  })
}

const postgres: BackendTarget = {
  name: 'postgres',
  lacks: {},
  async tempStore() {
    const schema = uniqueSchema()
    const stores: Store<CollectionsConfig>[] = []
    // One hook closes this location's stores, then drops the schema: DROP would wait for them otherwise.
    dropSchemaAfterTest(schema, () => Promise.all(stores.map((s) => s.close().catch(() => undefined))))
    return async (config) => {
      const store = await openStore({ ...config, url: PG_URL, postgres: { ...config.postgres, schema } })
      stores.push(store as unknown as Store<CollectionsConfig>)
      return store
    }
  },
}

/** Why PostgreSQL cannot be used, or undefined when it answers. */
async function postgresProblem(url: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 })
  client.on('error', () => undefined)
  try {
    await client.connect()
    await client.query('SELECT 1')
    return undefined
  } catch (error) {
    return (error as Error).message || String(error)
  } finally {
    await client.end().catch(() => undefined)
  }
}

/** What the remote target cannot send to its server process: it lives in the program that opens the store. */
const NOT_SERVED = ['migrations', 'backend', 'onWritesRefused'] as const

/**
 * The config as JSON for the server process: functions stay here, schemas travel as their JSON
 * Schema (zod exports one) and are rebuilt there with zod's fromJSONSchema.
 */
function servedConfig(config: TestStoreConfig<CollectionsConfig>): unknown {
  for (const key of NOT_SERVED) {
    const value = (config as Record<string, unknown>)[key]
    if (value !== undefined && !(Array.isArray(value) && value.length === 0))
      throw new Error(
        `The remote target cannot serve a store opened with ${key}: it belongs to the process that opens the store (docs/http-api.md).`,
      )
  }
  const collections: Record<string, unknown> = {}
  for (const [name, c] of Object.entries(config.collections)) {
    const { schema, ...rest } = c
    let jsonSchema: unknown
    if (schema !== null && typeof schema === 'object' && '~standard' in schema) {
      const props = schema['~standard'] as { jsonSchema?: { input?: (o: { target: string }) => unknown } }
      try {
        jsonSchema = props.jsonSchema?.input?.({ target: 'draft-2020-12' })
      } catch {
        jsonSchema = undefined
      }
      // A validator without a JSON Schema export (valibot) cannot be rebuilt there: the collection is
      // served without it, and the tests of such a schema's behaviour skip on this target (lacks.opaqueSchemas).
    }
    // Not a validator at all: sent as is, for the server's openStore to refuse as a local one would.
    const asIs = schema !== undefined && (schema === null || typeof schema !== 'object' || !('~standard' in schema)) ? { schema } : {}
    collections[name] = { ...rest, ...asIs, ...(jsonSchema === undefined ? {} : { jsonSchema }) }
  }
  return { ...config, collections }
}

/**
 * Stores served by `tandem serve`'s serveStore in a child process, used through openRemoteStore.
 * Each open is like another process: the child opens the store file again with that config, and
 * serves it with a token of the config's role.
 */
const remote: BackendTarget = {
  name: 'remote',
  lacks: {
    engine: 'a remote store has no engine or registration in this process: the server process holds them',
    migrations: 'migrations are functions run by the process that opens the store (the server)',
    opaqueSchemas: 'the test server rebuilds schemas from their JSON Schema; valibot exports none',
    environment: 'TANDEM_RETAIN_* are read by the server process, not the test',
    sharedNow: "since 'now' is fixed when the server gets the stream request; other clients' earlier writes may precede it",
  },
  async tempStore() {
    const host = forkWorker('serve-host.mjs', { dir: tempDir() })
    await host.waitFor('ready')
    let opened = 0
    return async (config) => {
      const key = ++opened
      const serialized = servedConfig(config as TestStoreConfig<CollectionsConfig>)
      host.send({ type: 'cmd', action: 'open', key, config: serialized })
      const answer = (await host.waitFor((m) => m.type === 'opened' && m.key === key)) as unknown as {
        url?: string
        token?: string
        error?: { name: string; code?: string; message: string; hint?: string; collection?: string }
      }
      if (answer.error !== undefined) {
        const { code, message, hint, name } = answer.error
        if (code !== undefined && /^[A-Z_]+$/.test(code))
          throw new TandemError(code as TandemErrorCode, message, hint === undefined ? {} : { hint })
        throw Object.assign(name === 'RangeError' ? new RangeError(message) : new TypeError(message), code === undefined ? {} : { code })
      }
      const store = await openRemoteStore(answer.url!, { token: answer.token! })
      const close = store.close.bind(store)
      let closing: Promise<void> | undefined
      // Closing the remote store closes the served one too, as closing a process's store would.
      store.close = () =>
        (closing ??= (async () => {
          await close()
          if (!host.running) return
          host.send({ type: 'cmd', action: 'close', key })
          await host.waitFor((m) => m.type === 'closed' && m.key === key)
        })())
      onTestFinished(() => store.close())
      return store as unknown as Store<never>
    }
  },
}

const wanted = process.env.TANDEM_BACKENDS?.split(',').map((s) => s.trim())
const ALL: BackendTarget[] = [sqlite, files]
if (wanted === undefined || wanted.includes('postgres')) {
  const problem = await postgresProblem(PG_URL)
  if (problem === undefined) ALL.push(postgres)
  else if (process.env.CI === 'true') {
    // Never a silent pass in CI: a missing server fails every test file that loops over BACKENDS.
    throw new Error(
      `PostgreSQL is not reachable at ${PG_URL} (${problem}), and CI=true requires it. Start the server (.ci/run starts an installed one), or point TANDEM_PG_URL at one.`,
    )
  } else console.warn(`skipped: no Postgres at ${PG_URL} (${problem})`)
}

/**
 * The backends every conformance test runs on: SQLite, files, and PostgreSQL when its server
 * answers (in CI it must). TANDEM_BACKENDS=sqlite,files,postgres narrows the run.
 */
export const BACKENDS: BackendTarget[] = wanted === undefined ? ALL : ALL.filter((b) => wanted.includes(b.name))

/**
 * What the conformance suite (test/conformance) runs on: the engines of BACKENDS, and `remote` — a
 * store served by serveStore in a child process, used through openRemoteStore — unless
 * TANDEM_BACKENDS leaves it out. Other tests use BACKENDS: they reach into the engine.
 */
export const TARGETS: BackendTarget[] = wanted === undefined || wanted.includes('remote') ? [...BACKENDS, remote] : BACKENDS

/** The PostgreSQL target when it is in this run, for the tests in test/postgres/. */
export const POSTGRES: BackendTarget | undefined = BACKENDS.find((b) => b.name === 'postgres')
