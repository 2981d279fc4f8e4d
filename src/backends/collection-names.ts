import { TandemError } from '../errors.js'
import type { CollectionLayout } from './backend.js'

/**
 * Refuses a collection whose name differs only in case from one the store already has. SQLite
 * compares table names without regard to case and PostgreSQL (quoted) with it, so "Tasks" beside
 * "tasks" would share one table on SQLite and get a second one on PostgreSQL. Called by each
 * backend's prepare inside its transaction, under its DDL lock, before any table is created.
 */
export function refuseCaseAliases(existing: readonly string[], layouts: readonly CollectionLayout[]): void {
  const have = new Set(existing)
  const byLowerCase = new Map(existing.map((name) => [name.toLowerCase(), name]))
  for (const { name } of layouts) {
    const other = byLowerCase.get(name.toLowerCase())
    if (other === undefined || have.has(name)) continue
    throw new TandemError(
      'DEFINITION_MISMATCH',
      `Collection "${name}" differs only in case from "${other}", which the store already has: SQLite would keep both in one table and PostgreSQL in two, so such names are refused. Nothing was opened; declare it as "${other}".`,
      {
        collection: name,
        hint: `Rename "${name}" to "${other}" in this program's collections (or rename the collection everywhere with a migration).`,
      },
    )
  }
}
