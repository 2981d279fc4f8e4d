import type { OptionSpec } from './output.js'

/** Options every command takes. */
export const GLOBAL_OPTIONS = {
  json: { type: 'boolean', description: 'print results as one JSON document on stdout; logs go to stderr' },
  verbose: { type: 'boolean', description: 'print stack traces on failure' },
  help: { type: 'boolean', short: 'h', description: 'show help' },
} as const satisfies Record<string, OptionSpec>

/** Options several commands share, spelled and described once. */
export const CONFIG_OPTION = {
  config: {
    type: 'string',
    description: 'the config file (default: tandem.config.ts|mts|mjs|js|json found from the working directory up)',
  },
} satisfies Record<string, OptionSpec>

export const STORE_OPTION = {
  store: { type: 'string', description: "the store: a file, or a postgres:// url (default: $TANDEM_STORE, else the config's path or url)" },
} satisfies Record<string, OptionSpec>

/** --store for the commands that work on SQLite files only (doctor, restore). */
export const STORE_FILE_OPTION = {
  store: { type: 'string', description: "the store file (default: $TANDEM_STORE, else the config's path)" },
} satisfies Record<string, OptionSpec>

export const SCHEMA_OPTION = {
  schema: {
    type: 'string',
    description: 'the PostgreSQL schema of a postgres:// store (default: the config\'s postgres.schema, else "tandem")',
  },
} satisfies Record<string, OptionSpec>

/** How a command names its store: --store (or a [store] argument), --schema for a url, --config. */
export const TARGET_OPTIONS = { ...STORE_OPTION, ...SCHEMA_OPTION, ...CONFIG_OPTION } satisfies Record<string, OptionSpec>

export const AS_OPTION = {
  as: { type: 'string', description: 'the role to write as (default "cli"); the collection\'s writers must include it' },
} satisfies Record<string, OptionSpec>

export const IF_VERSION_OPTION = {
  'if-version': { type: 'string', description: 'only write if the record is at this version now (else VERSION_CONFLICT)' },
} satisfies Record<string, OptionSpec>
