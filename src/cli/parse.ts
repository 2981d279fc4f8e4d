import { parseArgs } from 'node:util'
import { GLOBAL_OPTIONS } from './options.js'
import type { Command, CommandContext } from './output.js'
import { unknownName } from './suggest.js'

/**
 * Parses a command's arguments strictly: its own options and the global ones, positionals
 * allowed. An option the command does not take is a usage error that names the command and
 * suggests the nearest option it does take (node:util only says "Unknown option").
 */
export function parseCommandArgs(command: Command, args: string[]): Pick<CommandContext, 'values' | 'positionals'> {
  const options = { ...command.options, ...GLOBAL_OPTIONS }
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true })
  } catch (error) {
    const given =
      (error as { code?: unknown }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION'
        ? /Unknown option '(-[^']*)'/.exec((error as Error).message)?.[1]
        : undefined
    if (given === undefined) throw error
    throw unknownName({
      message: `Unknown option '${given}' for tandem ${command.name}.`,
      given: given.replace(/^-+/, ''),
      known: Object.keys(options),
      quote: (name) => `--${name}`,
      hint: `"tandem help ${command.name}" lists its options; a value that starts with "-" goes after "--".`,
    })
  }
}
