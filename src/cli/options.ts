import type { OptionSpec } from './output.js'

/** Options several commands share, spelled and described once. */
export const CONFIG_OPTION = {
  config: { type: 'string', description: 'the config file (default: tandem.config.ts|mts|mjs|js|json found from the working directory up)' },
} satisfies Record<string, OptionSpec>

export const STORE_OPTION = {
  store: { type: 'string', description: "the store file, instead of the config's path" },
} satisfies Record<string, OptionSpec>

export const AS_OPTION = {
  as: { type: 'string', description: 'the role to write as (default "cli"); the collection\'s writers must include it' },
} satisfies Record<string, OptionSpec>

export const IF_VERSION_OPTION = {
  'if-version': { type: 'string', description: 'only write if the record is at this version now (else VERSION_CONFLICT)' },
} satisfies Record<string, OptionSpec>
