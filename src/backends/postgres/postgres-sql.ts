import { createHash } from 'node:crypto'
import type { CollectionLayout, Condition, Query } from '../backend.js'
import { PostgresChangesSql, TRIMMED_THROUGH_KEY } from './postgres-changes-sql.js'
import type { PostgresQuery } from './postgres-config.js'
import { named } from './postgres-prepared.js'
import { ROW_COLUMNS, compileCount, compileFind, dataKey } from './postgres-query.js'

/**
 * SQL text for the PostgreSQL backend. Identifiers come only from validated schema and collection
 * names and field paths (see `FIELD_SEGMENT`), and are quoted; every value is a `$n` parameter
 * (bound, or a quoted literal in an EXECUTE of the statement PREPAREd from the same text, see
 * PostgresWriteTx). Every name is schema-qualified: the backend never relies on search_path.
 * One class holds the store's quoted names and its statements, in two sections (layout, records);
 * the change log's statements are `changeLog` (postgres-changes-sql.ts), the find and count
 * compiler is postgres-query.ts.
 */

export const META_TABLE = '_tandem_meta'
export const CHANGES_TABLE = '_tandem_changes'
/** Tables of the store itself rather than of a collection start with this; collections cannot. */
export const INTERNAL_PREFIX = '_tandem_'
/**
 * 2: the change log's head is its newest seq (or the trim mark when it is empty). Format 1 kept
 * the head in a meta row, which every change-writing commit updated; see upgradeFormatSql.
 */
export const FORMAT_VERSION = '2'
/** Format 1's meta row of the head, retired by format 2 (see upgradeFormatSql). */
export const CHANGE_HEAD_KEY = 'change_head'

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/
const MAX_IDENTIFIER_BYTES = 63

function quote(name: string): string {
  if (!IDENTIFIER.test(name)) throw new TypeError(`"${name}" is not a valid PostgreSQL name for a Tandem schema or collection.`)
  return `"${name}"`
}

/** A readable name, or a hash of it when PostgreSQL would silently truncate it past 63 bytes. */
function fitIdentifier(readable: string, prefix: string): string {
  if (Buffer.byteLength(readable) <= MAX_IDENTIFIER_BYTES) return readable
  return `${prefix}${createHash('sha1').update(readable).digest('hex').slice(0, 32)}`
}

/** The SQL of one store: everything lives in its schema. */
export class PostgresSql {
  /** The schema's name, unquoted (for catalog lookups). */
  readonly schemaName: string
  /** The schema's name, quoted (for SQL text). */
  readonly schema: string
  readonly meta: string
  readonly changes: string
  /** The NOTIFY channel of this store. */
  readonly channel: string
  /** The change log's statements (postgres-changes-sql.ts). */
  readonly changeLog: PostgresChangesSql

  constructor(schema: string) {
    this.schemaName = schema
    this.schema = quote(schema)
    this.meta = `${this.schema}.${quote(META_TABLE)}`
    this.changes = `${this.schema}.${quote(CHANGES_TABLE)}`
    this.channel = fitIdentifier(`tandem_${schema}`, 'tandem_')
    this.changeLog = new PostgresChangesSql(this)
  }

  /** One table per collection, named as the collection: the schema belongs to the store. */
  table(collection: string): string {
    return `${this.schema}.${quote(collection)}`
  }

  indexName(collection: string, path: readonly string[]): string {
    return fitIdentifier(`ix:${collection}:${path.join('.')}`, 'ix_')
  }

  // --- layout -------------------------------------------------------------------------------

  createStoreSql(): string[] {
    return [
      `CREATE SCHEMA IF NOT EXISTS ${this.schema}`,
      `CREATE TABLE IF NOT EXISTS ${this.meta} (key text COLLATE "C" PRIMARY KEY, value text NOT NULL)`,
      // seq is given out under the change-log lock just before COMMIT, after the newest seq
      // (see appendChangesSql), so it is gap-free and grows in commit order. No sequence: a
      // sequence value is taken outside the transaction and would commit out of order.
      `CREATE TABLE IF NOT EXISTS ${this.changes} (
        seq bigint PRIMARY KEY,
        collection text COLLATE "C" NOT NULL,
        id text COLLATE "C" NOT NULL,
        op text NOT NULL CHECK (op IN ('insert', 'update', 'delete', 'trim')),
        version bigint NOT NULL,
        role text COLLATE "C" NOT NULL,
        at bigint NOT NULL,
        data jsonb CHECK (data IS NULL OR jsonb_typeof(data) = 'object'),
        delta jsonb
      )`,
    ]
  }

  /** Seeds the meta rows; existing ones are kept. */
  initMetaSql(): PostgresQuery {
    return {
      text: `INSERT INTO ${this.meta} (key, value) VALUES ('format', $1), ('${TRIMMED_THROUGH_KEY}', '0') ON CONFLICT (key) DO NOTHING`,
      values: [FORMAT_VERSION],
    }
  }

  /**
   * Format 1 → 2, run once under the DDL lock. Format 1's head row always equals what format 2
   * computes (the newest seq, or the trim mark when every change was trimmed), so nothing moves.
   * The row is not deleted but given a value that is not a number: a process of an older tandemdb
   * still running on this schema then fails loudly on its next change (it casts the row to bigint)
   * instead of giving out seqs from a head nobody moves any more.
   */
  upgradeFormatSql(): string[] {
    return [
      `UPDATE ${this.meta} SET value = 'retired: this store is format 2, upgrade tandemdb in every process that opens it' WHERE key = '${CHANGE_HEAD_KEY}' AND EXISTS (SELECT FROM ${this.meta} WHERE key = 'format' AND value = '1')`,
      `UPDATE ${this.meta} SET value = '${FORMAT_VERSION}' WHERE key = 'format' AND value = '1'`,
    ]
  }

  formatSql(): PostgresQuery {
    return { text: `SELECT value FROM ${this.meta} WHERE key = 'format'` }
  }

  /**
   * The same columns as SQLite; id and role compare bytewise (COLLATE "C") whatever the database's
   * collation. The primary key is named "pk:<collection>": PostgreSQL's default, <table>_pkey,
   * shares the name space of tables and could be another collection's name. created_seq is the
   * order of insertion (SQLite's rowid), from an identity sequence named "seq:<collection>" for
   * the same reason.
   */
  createTableSql(collection: string): string {
    return `CREATE TABLE IF NOT EXISTS ${this.table(collection)} (
      id text COLLATE "C" NOT NULL,
      version bigint NOT NULL CHECK (version >= 1),
      created_at bigint NOT NULL,
      updated_at bigint NOT NULL,
      role text COLLATE "C" NOT NULL,
      data jsonb NOT NULL CHECK (jsonb_typeof(data) = 'object'),
      created_seq bigint GENERATED ALWAYS AS IDENTITY (SEQUENCE NAME ${this.#sequenceName(collection)}) NOT NULL,
      CONSTRAINT ${quoteIndexName(fitIdentifier(`pk:${collection}`, 'pk_'))} PRIMARY KEY (id)
    )`
  }

  #sequenceName(collection: string): string {
    return `${this.schema}.${quoteIndexName(fitIdentifier(`seq:${collection}`, 'seq_'))}`
  }

  /** The collection's indexes, and 'column:created_seq' when the table has that column. */
  existingIndexesSql(collection: string): PostgresQuery {
    return {
      text: `SELECT indexname AS name FROM pg_indexes WHERE schemaname = $1 AND tablename = $2
        UNION ALL SELECT 'column:' || attname FROM pg_attribute WHERE attrelid = to_regclass($3) AND attname = 'created_seq' AND NOT attisdropped`,
      values: [this.schemaName, collection, this.table(collection)],
    }
  }

  /**
   * Adds created_seq to a table made before it existed, numbering the rows present by (created_at,
   * id), the order retention used until then. Run under the DDL lock, once, then
   * `createdSeqIdentitySql` with the highest number given. ADD COLUMN comes first on purpose: it
   * takes the table's ACCESS EXCLUSIVE lock, held until COMMIT, so no row can be inserted between
   * the numbering and the identity's start (it would get a number the identity hands out again).
   */
  addCreatedSeqSql(collection: string): string[] {
    const table = this.table(collection)
    return [
      `ALTER TABLE ${table} ADD COLUMN created_seq bigint`,
      `UPDATE ${table} AS t SET created_seq = o.n FROM (SELECT id, row_number() OVER (ORDER BY created_at, id) AS n FROM ${table}) AS o WHERE t.id = o.id`,
    ]
  }

  /** The highest created_seq of the collection, 0 when it is empty. */
  maxCreatedSeqSql(collection: string): PostgresQuery {
    return { text: `SELECT coalesce(max(created_seq), 0)::bigint AS n FROM ${this.table(collection)}` }
  }

  /** Makes created_seq an identity that continues after `highest` (see addCreatedSeqSql). */
  createdSeqIdentitySql(collection: string, highest: number): string {
    const table = this.table(collection)
    return `ALTER TABLE ${table} ALTER COLUMN created_seq SET NOT NULL, ALTER COLUMN created_seq ADD GENERATED ALWAYS AS IDENTITY (SEQUENCE NAME ${this.#sequenceName(collection)} START WITH ${Math.trunc(highest) + 1})`
  }

  /**
   * The unique index on created_seq: retention reads the oldest rows through it instead of
   * scanning the table, and `find` ordered by createdSeq relies on it being unique (no id
   * tiebreak). Named "created:<collection>": index names share the name space of tables and
   * sequences ("seq:<collection>" is taken).
   */
  createdSeqIndexName(collection: string): string {
    return fitIdentifier(`created:${collection}`, 'created_')
  }

  /**
   * Creates the index of createdSeqIndexName, under the DDL lock. A table upgraded by a version
   * that counted its rows before locking the table may hold duplicate numbers: the rows after the
   * first (by created_at, id) of each duplicate get fresh numbers from the identity first, so the
   * unique index can be built (they keep their place after the rows numbered before them).
   */
  createCreatedSeqIndexSql(collection: string): string[] {
    const table = this.table(collection)
    return [
      `UPDATE ${table} SET created_seq = DEFAULT WHERE id IN (SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY created_seq ORDER BY created_at, id) AS r FROM ${table}) AS d WHERE r > 1)`,
      `CREATE UNIQUE INDEX IF NOT EXISTS ${quoteIndexName(this.createdSeqIndexName(collection))} ON ${table} (created_seq)`,
    ]
  }

  /** The index `find` uses for a data field: the field's sort key (see `dataKey`), then id. */
  createIndexSql(layout: CollectionLayout, path: readonly string[]): string {
    const key = dataKey(path)
    return `CREATE INDEX IF NOT EXISTS ${quoteIndexName(this.indexName(layout.name, path))} ON ${this.table(layout.name)} (${key.cls}, ${key.num}, ${key.str}, id)`
  }

  dropIndexSql(collection: string, path: readonly string[]): string {
    return `DROP INDEX IF EXISTS ${this.schema}.${quoteIndexName(this.indexName(collection, path))}`
  }

  dropTableSql(collection: string): string {
    return `DROP TABLE IF EXISTS ${this.table(collection)}`
  }

  listCollectionsSql(): PostgresQuery {
    return named(
      `SELECT tablename AS name FROM pg_tables WHERE schemaname = $1 AND left(tablename, ${INTERNAL_PREFIX.length}) <> '${INTERNAL_PREFIX}' ORDER BY tablename COLLATE "C"`,
      [this.schemaName],
    )
  }

  // --- records ------------------------------------------------------------------------------

  /**
   * One record. With `forUpdate` the row is locked until the transaction ends; with a `sharedLock`
   * key the same statement first takes the collection's predicate lock shared (see
   * collectionLockKey), so a write's first read of a collection costs no extra round trip.
   */
  getSql(collection: string, id: string, forUpdate: boolean, sharedLock?: string, noWait = false): PostgresQuery {
    // NOWAIT: fail at once (55P03) instead of waiting for the row (see SavepointStack.outOfOrder).
    const lock = forUpdate ? (noWait ? ' FOR UPDATE NOWAIT' : ' FOR UPDATE') : ''
    if (sharedLock === undefined) return named(`SELECT ${ROW_COLUMNS} FROM ${this.table(collection)} WHERE id = $1${lock}`, [id])
    return named(
      `WITH l AS (SELECT pg_advisory_xact_lock_shared($2::bigint)) SELECT ${ROW_COLUMNS} FROM ${this.table(collection)} WHERE id = $1 AND EXISTS (SELECT FROM l)${lock}`,
      [id, sharedLock],
    )
  }

  /**
   * Inserts many rows in one statement: `rows` is the JSON text of an array of
   * [id, version, createdAt, updatedAt, role, data]. ON CONFLICT DO NOTHING and RETURNING id: a row
   * whose id is taken is simply not returned (the caller's DUPLICATE_ID) and the transaction stays
   * usable. The ids must be distinct. With a `sharedLock` key the collection's predicate lock is
   * taken shared first (an InitPlan, evaluated before any row is inserted).
   */
  insertRowsSql(collection: string, rows: string, sharedLock?: string): PostgresQuery {
    const select = `SELECT e->>0, (e->>1)::bigint, (e->>2)::bigint, (e->>3)::bigint, e->>4, e->5 FROM jsonb_array_elements($1::jsonb) AS e`
    const insert = `INSERT INTO ${this.table(collection)} (id, version, created_at, updated_at, role, data)`
    const tail = `ON CONFLICT (id) DO NOTHING RETURNING id`
    if (sharedLock === undefined) return named(`${insert} ${select} ${tail}`, [rows])
    return named(`WITH l AS (SELECT pg_advisory_xact_lock_shared($2::bigint)) ${insert} ${select} WHERE EXISTS (SELECT FROM l) ${tail}`, [
      rows,
      sharedLock,
    ])
  }

  updateSql(collection: string, values: unknown[]): PostgresQuery {
    return named(`UPDATE ${this.table(collection)} SET version = $1, updated_at = $2, role = $3, data = $4::jsonb WHERE id = $5`, values)
  }

  deleteSql(collection: string, id: string): PostgresQuery {
    return named(`DELETE FROM ${this.table(collection)} WHERE id = $1`, [id])
  }

  /**
   * Named like the row statements: the text depends on the query's shape only (every value is a
   * parameter), so each connection parses and plans a shape once instead of on every find; the
   * data-field keys make that planning the larger part of a short query's server time.
   */
  findSql(collection: string, query: Query): PostgresQuery {
    const { text, values } = compileFind(this.table(collection), query)
    return named(text, values)
  }

  countSql(collection: string, where: readonly Condition[]): PostgresQuery {
    const { text, values } = compileCount(this.table(collection), where)
    return named(text, values)
  }

  /** A collection's records by id ($1: the ids): the feed's lookup of a batch's data (see change-data.ts). */
  recordsByIdSql(collection: string, ids: readonly string[]): PostgresQuery {
    return named(`SELECT id, version, data FROM ${this.table(collection)} WHERE id = ANY($1::text[])`, [[...ids]])
  }

  schemaBytesSql(): PostgresQuery {
    return {
      text: `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'`,
      values: [this.schemaName],
    }
  }
}

function quoteIndexName(name: string): string {
  // Index names hold ':' and '.', which `quote` refuses for tables; they are built from validated parts only.
  if (!/^[A-Za-z0-9_:.]{1,63}$/.test(name)) throw new TypeError(`"${name}" is not a valid Tandem index name.`)
  return `"${name}"`
}
