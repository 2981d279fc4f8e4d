// Shared helpers for the PostgreSQL benchmarks (`node bench/index.mjs --pg`): the server, a fresh
// schema per benchmark, Tandem stores on it, and the raw node-postgres baseline.
import pg from 'pg'
import { openStore } from '../dist/index.js'
import { COLLECTIONS } from './lib.mjs'

/** The server: TANDEM_PG_URL, else the local one the tests use (trust auth). */
export const PG_URL = process.env.TANDEM_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/** Returns bigint columns as numbers, as the Tandem backend does (its values stay below 2^53). */
export const TYPES = { getTypeParser: (oid, format) => (oid === 20 ? Number : pg.types.getTypeParser(oid, format)) }

/** A schema name no other run uses. */
export function benchSchema(name) {
  return `bench_${name}_${process.pid}_${Math.random().toString(36).slice(2, 7)}`
}

/** A connected client of its own (not pooled), for the raw baseline and for setup. */
export async function rawClient(applicationName = 'tandem-bench-raw') {
  const client = new pg.Client({ connectionString: PG_URL, application_name: applicationName, types: TYPES })
  client.on('error', () => undefined)
  await client.connect()
  return client
}

/** Runs `work` on a short-lived client, then ends it. */
export async function withClient(work) {
  const client = await rawClient('tandem-bench-admin')
  try {
    return await work(client)
  } finally {
    await client.end()
  }
}

/** Drops a benchmark's schemas (and everything in them). */
export function dropSchemas(...schemas) {
  return withClient(async (client) => {
    for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  })
}

/** Opens a Tandem store in `schema`, with the same collection the SQLite benchmarks use. */
export function openPgTandem(schema, { role = 'bench', poolSize } = {}) {
  return openStore({ url: PG_URL, postgres: { schema, ...(poolSize === undefined ? {} : { poolSize }) }, role, collections: COLLECTIONS })
}

/**
 * The raw baseline's table: the same shape as a Tandem collection on PostgreSQL (text primary key
 * bytewise, bigint version and times, jsonb data checked to be an object), so both sides pay for
 * the same row and the difference is what Tandem adds (its change log, its checks, its queue).
 */
export async function createRawTable(schema) {
  await withClient(async (client) => {
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`)
    await client.query(`CREATE TABLE IF NOT EXISTS "${schema}".items (
      id text COLLATE "C" NOT NULL PRIMARY KEY,
      version bigint NOT NULL CHECK (version >= 1),
      created_at bigint NOT NULL,
      updated_at bigint NOT NULL,
      role text COLLATE "C" NOT NULL,
      data jsonb NOT NULL CHECK (jsonb_typeof(data) = 'object')
    )`)
  })
}

/** The server's version and the settings that decide commit cost. */
export function serverInfo() {
  return withClient(async (client) => {
    const { rows } = await client.query(
      `SELECT current_setting('server_version') AS version, current_setting('synchronous_commit') AS sync, current_setting('fsync') AS fsync, current_setting('commit_delay') AS delay`,
    )
    return rows[0]
  })
}
