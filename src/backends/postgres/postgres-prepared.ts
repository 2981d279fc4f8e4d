import { createHash } from 'node:crypto'
import type { PostgresPoolClient, PostgresQuery } from './postgres-config.js'
import type { Session } from './postgres-connection.js'

/**
 * Statements PREPAREd by SQL on each pooled connection (named `<statement name>_s`, apart from
 * the protocol-level ones node-postgres prepares), so that statements sent together as one
 * simple-protocol message run as `EXECUTE name(literals)`: parsed and planned once per connection.
 */
export const preparedOn = new WeakMap<PostgresPoolClient, Set<string>>()

/** Statement names by text: hashing on every call would cost more than the lookup. */
const NAMES = new Map<string, string>()
const MAX_NAMES = 10_000

/** A statement the backend runs often, named so each connection parses and plans it once. */
export function named(text: string, values: unknown[] = []): PostgresQuery {
  let name = NAMES.get(text)
  if (name === undefined) {
    name = `tandem_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`
    if (NAMES.size >= MAX_NAMES) NAMES.clear()
    NAMES.set(text, name)
  }
  return { name, text, values }
}

/** A string literal for simple-protocol SQL: E'...' with backslashes and quotes doubled. */
export function literal(text: string): string {
  return `E'${text.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`
}

/** A value of a named statement as an EXECUTE argument, or undefined when it cannot be one. */
export function argument(value: unknown): string | undefined {
  // A NUL would end the message's text early (the parameter path reports it properly).
  if (typeof value === 'string') return value.includes('\u0000') ? undefined : literal(value)
  if (typeof value === 'number') return Number.isFinite(value) ? `(${value})` : undefined
  if (typeof value === 'boolean') return String(value)
  return undefined
}

/**
 * Drops a connection whose prepared statements are not what this process believes (a statement
 * missing, or there already): it is closed instead of going back to the pool.
 */
export function checkPreparedStatements(session: Session, error: unknown): void {
  const state = (error as { code?: unknown } | null)?.code
  if (state !== '26000' && state !== '42P05') return
  preparedOn.delete(session.client)
  session.lost ??= error
}
