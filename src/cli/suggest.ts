import { didYouMean } from '../store/did-you-mean.js'
import { CliError, EXIT } from './output.js'

/**
 * The one error for a name the CLI does not know (a command, an option, a collection, an option's
 * value): what was given, the nearest known name, and the hint. Exit 2 unless `exitCode` says otherwise.
 */
export function unknownName(options: {
  code?: string
  message: string
  given: string
  known: Iterable<string>
  quote?: (name: string) => string
  hint: string
  exitCode?: number
}): CliError {
  const suggestion = didYouMean(options.given, options.known, options.quote)
  return new CliError(options.code ?? 'USAGE', `${options.message}${suggestion}`, options.hint, options.exitCode ?? EXIT.usage)
}
