import type { ChangeFilter } from '../backend.js'
import type { PostgresQuery } from './postgres-config.js'
import { named } from './postgres-prepared.js'

/**
 * SQL text of the change log of a PostgreSQL store: the append at COMMIT, the reads, the head,
 * retention's trim, the integrity facts and the coalescing index. Engine-only as a file: SQLite's
 * change-log statements are a few constants in sqlite-sql.ts, while here they carry the reasoning
 * behind the log's ordering guarantees (the change-log lock, seqs given out at commit, NOTIFY
 * payloads), so they get a file of their own. Reached as `PostgresSql.changeLog`; the same rules
 * as postgres-sql.ts hold: quoted, schema-qualified names, every value a `$n` parameter.
 */

/** The meta row of the change log's trim mark: every seq at or below it has been trimmed. */
export const TRIMMED_THROUGH_KEY = 'changes_trimmed_through'
const CHANGES_RECORD_INDEX = 'changes:record'
/** The change log's table name, unquoted (as postgres-sql.ts's CHANGES_TABLE). */
const CHANGES_TABLE_NAME = '_tandem_changes'

/** PostgreSQL refuses NOTIFY payloads of 8000 bytes or more. */
const NOTIFY_PAYLOAD_LIMIT_BYTES = 8000
/** Changes whose JSON is this large are not tried as a payload (PostgreSQL's rendering only grows). */
export const MAX_PAYLOAD_ATTEMPT_BYTES = 7000

/** The quoted names of one store the change-log statements use (PostgresSql has them). */
export interface ChangeLogNames {
  /** The schema's name, unquoted (for catalog lookups). */
  readonly schemaName: string
  /** The meta table, quoted and schema-qualified. */
  readonly meta: string
  /** The change-log table, quoted and schema-qualified. */
  readonly changes: string
  /** The NOTIFY channel of this store. */
  readonly channel: string
}

/** The change-log SQL of one store. */
export class PostgresChangesSql {
  readonly #schemaName: string
  readonly #meta: string
  readonly #changes: string
  readonly #channel: string

  constructor(names: ChangeLogNames) {
    this.#schemaName = names.schemaName
    this.#meta = names.meta
    this.#changes = names.changes
    this.#channel = names.channel
  }

  /** The last seq committed: the newest entry, or the trim mark when retention left none. */
  #headExpression(trimmed: string): string {
    return `coalesce((SELECT max(seq) FROM ${this.#changes}), ${trimmed})`
  }

  changeHeadSql(): PostgresQuery {
    return named(`SELECT ${this.#headExpression(`(SELECT value::bigint FROM ${this.#meta} WHERE key = '${TRIMMED_THROUGH_KEY}')`)} AS head`)
  }

  /** Whether the change log has its coalescing index (stores made before it lack it). */
  hasChangesRecordIndexSql(): PostgresQuery {
    return { text: `SELECT 1 FROM pg_indexes WHERE schemaname = $1 AND indexname = $2`, values: [this.#schemaName, CHANGES_RECORD_INDEX] }
  }

  /** Whether the change log has its delta column (history: { keep: 'diff' }; stores made before it lack it). */
  hasDeltaColumnSql(): PostgresQuery {
    return {
      text: `SELECT 1 FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND column_name = 'delta'`,
      values: [this.#schemaName, CHANGES_TABLE_NAME],
    }
  }

  addDeltaColumnSql(): string {
    return `ALTER TABLE ${this.#changes} ADD COLUMN IF NOT EXISTS delta jsonb`
  }

  /** Every entry of some records of one collection from a seq on: the chains of deltas a read rebuilds (see change-history.ts). */
  deltaChainsSql(collection: string, ids: Iterable<string>, from: number): PostgresQuery {
    return named(
      `SELECT seq, collection, id, op, version, role, at, data, delta FROM ${this.#changes} WHERE collection = $1 AND id = ANY($2::text[]) AND seq >= $3::bigint ORDER BY seq`,
      [collection, [...ids], from],
    )
  }

  /** The entries of the collections whose history is bounded: what historyToPrune looks at. */
  historyEntriesSql(collections: readonly string[]): PostgresQuery {
    return named(`SELECT seq, collection, id, op, at FROM ${this.#changes} WHERE collection = ANY($1::text[]) ORDER BY seq`, [
      [...collections],
    ])
  }

  deleteChangesBySeqSql(seqs: readonly number[]): PostgresQuery {
    return named(`DELETE FROM ${this.#changes} WHERE seq = ANY($1::bigint[])`, [[...seqs]])
  }

  /** The index that finds a record's earlier entries without a copy, for coalescing (see appendChangesSql). */
  createChangesRecordIndexSql(): string {
    return `CREATE INDEX IF NOT EXISTS "${CHANGES_RECORD_INDEX}" ON ${this.#changes} (collection, id) WHERE data IS NULL`
  }

  /**
   * The statement that appends a transaction's buffered changes ($1: a JSON array of entries), sent
   * in one message with COMMIT, right after the statement that takes the change-log lock
   * (lockSql(changeLogLockKey)). The lock is held until the transaction ends, so no other
   * transaction can take seqs until this one has committed (or rolled back): change-writing
   * transactions commit in seq order, and reading `seq > cursor` never skips one. This statement
   * starts after the lock is granted, so its snapshot (READ COMMITTED: one per statement) shows
   * every change committed by the lock's previous holders: its seqs follow the newest of them
   * (the trim mark when retention left none). Because COMMIT follows in the same message, the
   * lock is held for the append and the WAL flush, never across a round trip to the client. If
   * the append fails, PostgreSQL skips the COMMIT. Then it queues a NOTIFY (PostgreSQL delivers it
   * on commit).
   *
   * With $2 true, the NOTIFY payload carries the changes when they fit (see parseChangePayload):
   * "<seq before the first> <JSON array of the entries>", as PostgreSQL renders the JSONB the log
   * stores, so a listener can deliver them without reading the table; otherwise the new head.
   */
  appendChangesSql(): PostgresQuery {
    return (this.#append ??= this.#appendChangesSql())
  }

  #append: PostgresQuery | undefined

  #appendChangesSql(): PostgresQuery {
    const n = 'jsonb_array_length($1::jsonb)'
    const trimmed = `(SELECT value::bigint FROM ${this.#meta} WHERE key = '${TRIMMED_THROUGH_KEY}')`
    const payload = `(SELECT p FROM (SELECT base.seq::text || ' ' || ($1::jsonb)::text AS p) AS x WHERE octet_length(p) < ${NOTIFY_PAYLOAD_LIMIT_BYTES})`
    return named(
      [
        `WITH base AS (SELECT ${this.#headExpression(trimmed)} AS seq),`,
        `added AS (INSERT INTO ${this.#changes} (seq, collection, id, op, version, role, at, data, delta)`,
        `SELECT base.seq + e.ord, v->>'collection', v->>'id', v->>'op', (v->>'version')::bigint, v->>'role', (v->>'at')::bigint, v->'data', v->'delta'`,
        `FROM base, jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(v, ord)),`,
        // Coalescing, as on SQLite: an entry without a copy only says "this record changed, read
        // it", so the record's earlier such entries go (not for an insert: see sqlite-sql.ts). All
        // of them are at or below base.seq (the new ones are above, and this statement's snapshot
        // does not see them anyway).
        `coalesced AS (DELETE FROM ${this.#changes} c USING jsonb_array_elements($1::jsonb) AS w(v)`,
        `WHERE v->'data' IS NULL AND v->'delta' IS NULL AND v->>'op' <> 'insert' AND c.data IS NULL AND c.delta IS NULL AND c.collection = v->>'collection' AND c.id = v->>'id' AND c.seq <= (SELECT seq FROM base))`,
        `SELECT pg_notify('${this.#channel}', coalesce(CASE WHEN $2::boolean THEN ${payload} END, (base.seq + ${n})::text)) FROM base`,
      ].join(' '),
    )
  }

  /** The NOTIFY that tells listeners the log is now trimmed through `through` ("trim <seq>"). */
  notifyTrimSql(through: number): PostgresQuery {
    return named(`SELECT pg_notify('${this.#channel}', 'trim ' || $1::bigint)`, [through])
  }

  /**
   * Changes after the cursor, the head and the trim mark, in one statement: one snapshot, so
   * "every seq up to head was scanned" holds for exactly the changes returned.
   */
  readChangesSql(cursor: number, limit: number, filter: ChangeFilter | undefined): PostgresQuery {
    const values: unknown[] = [cursor, limit]
    let match = ''
    if (filter?.collections !== undefined) match += ` AND collection = ANY($${values.push([...filter.collections])}::text[])`
    if (filter?.ids !== undefined) match += ` AND id = ANY($${values.push([...filter.ids])}::text[])`
    return named(
      `SELECT ${this.#headExpression('t.value::bigint')} AS head, t.value::bigint AS trimmed, c.seq, c.collection, c.id, c.op, c.version, c.role, c.at, c.data, c.delta
      FROM ${this.#meta} t
      LEFT JOIN LATERAL (
        SELECT seq, collection, id, op, version, role, at, data, delta FROM ${this.#changes}
        WHERE seq > $1::bigint${match} ORDER BY seq LIMIT $2::bigint
      ) c ON true
      WHERE t.key = '${TRIMMED_THROUGH_KEY}'
      ORDER BY c.seq`,
      values,
    )
  }

  /** The facts checkIntegrity judges, in one snapshot. */
  integritySql(): PostgresQuery {
    return {
      text: `SELECT
        (SELECT value FROM ${this.#meta} WHERE key = 'format') AS format,
        (SELECT value::bigint FROM ${this.#meta} WHERE key = '${TRIMMED_THROUGH_KEY}') AS trimmed,
        min(seq) AS low
      FROM ${this.#changes}`,
    }
  }

  /**
   * How far retention may trim by age: the seq before the first entry at or after `cutoff`, among
   * the oldest 10,000; the newest of those when none is that young. Only the oldest end goes, up
   * to the first young entry: one stamped by a clock that was behind cannot take younger ones along.
   */
  agedThroughSql(cutoff: number): PostgresQuery {
    return named(
      `WITH w AS (SELECT seq, at FROM ${this.#changes} ORDER BY seq LIMIT 10000) SELECT coalesce((SELECT min(seq) FROM w WHERE at >= $1::bigint) - 1, (SELECT max(seq) FROM w)) AS seq`,
      [cutoff],
    )
  }

  trimmedThroughSql(): PostgresQuery {
    return named(`SELECT value::bigint AS seq FROM ${this.#meta} WHERE key = '${TRIMMED_THROUGH_KEY}'`)
  }

  deleteChangesSql(through: number): PostgresQuery {
    return named(`DELETE FROM ${this.#changes} WHERE seq <= $1::bigint`, [through])
  }

  /** Never moves the mark back, should two trims race. */
  setTrimmedThroughSql(through: number): PostgresQuery {
    return named(`UPDATE ${this.#meta} SET value = greatest(value::bigint, $1::bigint)::text WHERE key = '${TRIMMED_THROUGH_KEY}'`, [
      through,
    ])
  }
}
