import pg from 'pg'
import {
  POSTGRES_APPLICATION_NAME,
  POSTGRES_LISTEN_APPLICATION_NAME,
  type PostgresConfig,
  type PostgresPool,
  type PostgresPoolClient,
} from './postgres-config.js'
import { translatePostgresError } from './postgres-errors.js'
import { lockTimeoutSql } from './postgres-locks.js'
import type { PostgresListenClient } from './postgres-wake.js'

/**
 * The connections of a PostgreSQL store and their session settings (the twin of
 * sqlite-connection.ts): the pool, the dedicated LISTEN connection, and the checkout, release and
 * rollback of one pooled connection for a write.
 */

/** A checked-out pool connection and whether its socket has failed. */
export interface Session {
  client: PostgresPoolClient
  lost: unknown
  onError: (error: Error) => void
}

/**
 * The pool's connections. Each one listens to its own 'error' events from birth: the pool and the
 * backend add listeners only while a connection is idle or checked out, and a connection that dies
 * in between (terminated during its start-up, or after a failed checkout or close() let it go)
 * would otherwise emit an 'error' nobody hears, which crashes the process. The backend still
 * learns of it: the pool's idle listener counts it, a checked-out session records it as lost.
 */
class PooledClient extends pg.Client {
  constructor(config?: pg.ClientConfig) {
    super(config)
    this.on('error', () => undefined)
  }
}

/** int8 columns (seq, versions, milliseconds) as JS numbers: all stay far below 2^53. numeric stays a string. */
const parseInt8 = (value: string): number => Number(value)
const TYPES = {
  // Called for every column of every result: one shared parser, not a closure each time.
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 ? parseInt8 : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
}

/** The pool of a store: postgres.poolSize connections for reads and writes. */
export function createPool(config: Readonly<PostgresConfig>): PostgresPool {
  return new pg.Pool({
    connectionString: config.url,
    max: config.poolSize,
    application_name: `${POSTGRES_APPLICATION_NAME}:${config.schema}`,
    types: TYPES,
    keepAlive: true,
    // Idle connections do not keep the process alive; a live change reader (the listener) does.
    allowExitOnIdle: true,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: Math.max(10_000, config.busyTimeoutMs),
    Client: PooledClient,
  }) as unknown as PostgresPool
}

/** A new, not yet connected client for the LISTEN connection (see CommitListener). */
export function createListenClient(config: Readonly<PostgresConfig>): PostgresListenClient {
  return new pg.Client({
    connectionString: config.url,
    application_name: `${POSTGRES_LISTEN_APPLICATION_NAME}:${config.schema}`,
    keepAlive: true,
    connectionTimeoutMillis: 10_000,
  }) as unknown as PostgresListenClient
}

/** Pooled connections whose session already has the settings every write needs (see beginSql). */
const configured = new WeakSet<object>()

/**
 * How every write transaction starts. synchronous_commit on for both durability settings:
 * PostgreSQL has no crash-safe mode cheaper than a flushed WAL, and a server configured with it
 * off must not weaken ours; lock_timeout is the store's busyTimeoutMs. Both are session settings,
 * sent with the first transactions of a connection until one of them commits (a rolled-back SET
 * is undone with it; `write` marks the connection after COMMIT, see markConfigured): two
 * statements fewer in every later transaction. A write with its own busyTimeoutMs adds SET LOCAL.
 */
export function beginSql(busyTimeoutMs: number, storeTimeoutMs: number, client: object): string {
  const statements = ['BEGIN ISOLATION LEVEL READ COMMITTED']
  if (!configured.has(client)) statements.push('SET synchronous_commit = on', lockTimeoutSql(storeTimeoutMs, 'session'))
  if (busyTimeoutMs !== storeTimeoutMs) statements.push(lockTimeoutSql(busyTimeoutMs))
  return statements.join('; ')
}

/** A transaction begun by beginSql committed on `client`: its session settings are in force for good. */
export function markConfigured(client: object): void {
  configured.add(client)
}

/** Checks a connection out of the pool for one write, listening for its socket errors. */
export async function checkout(pool: PostgresPool, url: string): Promise<Session> {
  let client: PostgresPoolClient
  try {
    client = await pool.connect()
  } catch (error) {
    throw translatePostgresError(error, { operation: 'write', url })
  }
  const session: Session = { client, lost: undefined, onError: () => undefined }
  // A checked-out connection has no pool listener: without ours, a socket error between two
  // statements would be an unhandled 'error' event.
  session.onError = (error) => {
    session.lost ??= error
  }
  client.on('error', session.onError)
  return session
}

export function release(session: Session): void {
  session.client.removeListener('error', session.onError)
  // A failed connection is closed instead of going back to the pool.
  session.client.release(session.lost === undefined ? undefined : session.lost instanceof Error ? session.lost : true)
}

export async function rollback(session: Session): Promise<void> {
  if (session.lost !== undefined) return
  // (A transaction whose BEGIN was never sent gets a harmless "no transaction in progress" warning.)
  try {
    await session.client.query('ROLLBACK')
  } catch (error) {
    session.lost = error
  }
}
