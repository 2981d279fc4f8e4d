import { TandemError } from '../errors.js'

export interface OptionSpec {
  type: 'string' | 'boolean'
  short?: string
  description: string
}

/** What a command gets: its parsed options and the output channels. */
export interface CommandContext {
  values: Record<string, string | boolean | undefined>
  positionals: string[]
  json: boolean
  /** Human-facing output on stdout (ignored with --json). */
  out(line: string): void
  /** Progress and logs: stderr with --json, stdout otherwise. */
  log(line: string): void
  /** The one JSON document a command prints with --json. */
  result(value: unknown): void
}

/** One CLI verb: `src/cli/commands/<verb>.ts` exports one of these. */
export interface Command {
  name: string
  summary: string
  usage: string
  options: Record<string, OptionSpec>
  examples: string[]
  /** Resolves with the exit code. */
  run(ctx: CommandContext): Promise<number>
}

export const EXIT = { ok: 0, checkFailed: 1, usage: 2, failed: 3 } as const

export function createContext(values: CommandContext['values'], positionals: string[]): CommandContext {
  const json = values.json === true
  return {
    values,
    positionals,
    json,
    out: (line) => {
      if (!json) process.stdout.write(`${line}\n`)
    },
    log: (line) => (json ? process.stderr : process.stdout).write(`${line}\n`),
    result: (value) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
  }
}

/** Prints a failure as code, one summary line and one "try this" line (or a JSON error document). */
export function reportError(error: unknown, json: boolean, verbose: boolean): number {
  const usage = error instanceof TypeError || error instanceof RangeError
  const code = error instanceof TandemError ? error.code : usage ? 'USAGE' : 'INTERNAL'
  const message = error instanceof Error ? error.message : String(error)
  const hint = error instanceof TandemError ? error.hint : usage ? 'Run "tandem help <command>" for the accepted options.' : 'Run again with --verbose and report the stack trace.'
  if (json) process.stdout.write(`${JSON.stringify({ error: { code, message, hint } })}\n`)
  else {
    process.stderr.write(`error ${code}: ${message}\n`)
    if (hint !== undefined) process.stderr.write(`try: ${hint}\n`)
  }
  if (verbose && error instanceof Error && error.stack !== undefined) process.stderr.write(`${error.stack}\n`)
  return usage ? EXIT.usage : EXIT.failed
}
