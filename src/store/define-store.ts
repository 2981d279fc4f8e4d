import type { CollectionsConfig, StoreConfig } from './config.js'
import { parseStoreConfig } from './parse-config.js'

/**
 * What every process sharing a store agrees on: its collections (writers, indexes, schemas,
 * retention, seeds), migrations and roles, and where it lives. openStore's config without the
 * per-process parts (`role`, `backend`).
 */
export type StoreDefinition<C extends CollectionsConfig = CollectionsConfig, R extends string = string> = Omit<
  StoreConfig<C, R>,
  'role' | 'backend'
>

/**
 * Declares a store once, for the app and for the CLI: export the result from one module, spread
 * it into `openStore({ ...definition, role })` in every process, and point `tandem.config.ts` at
 * the same module. Checks the definition at once (the same TypeError/RangeError as openStore,
 * naming the option) and returns it frozen, with its collection types kept for inference.
 *
 * @example
 * export default defineStore({
 *   dataDir: 'data',
 *   collections: { jobs: { writers: ['daemon'], indexes: ['status'] } },
 * })
 */
export function defineStore<const C extends CollectionsConfig, const R extends string = never>(
  definition: StoreDefinition<C, R>,
): StoreDefinition<C, R> {
  if (typeof definition !== 'object' || definition === null)
    throw new TypeError('defineStore needs a definition object: { collections, migrations?, roles?, path? }.')
  if ('role' in definition)
    throw new TypeError(
      'A store definition is shared by every process, so it has no role: give the role to openStore({ ...definition, role }).',
    )
  // Validate now, with a placeholder role, so a mistake surfaces where the definition is written.
  parseStoreConfig({ ...definition, role: 'define' } as StoreConfig)
  return Object.freeze({ ...definition })
}
