import { TandemError } from '../index.js'
import { maskUrlsIn } from './store-url.js'
import { colorEnabled, painter, type Paint } from './style.js'

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
  verbose: boolean
  /** Human-facing output on stdout (ignored with --json). */
  out(line: string): void
  /** Progress and logs: stderr with --json, stdout otherwise. */
  log(line: string): void
  /** Always stderr: banners and warnings that must never mix with results (watch, --json). */
  note(line: string): void
  /** A progress line on stderr, redrawn in place; only on a TTY and never with --json. */
  progress(line: string): void
  /** The one JSON document a command prints with --json. */
  result(value: unknown): void
  /** Colours text for stdout: a no-op unless stdout is a TTY and NO_COLOR is unset. */
  paint: Paint
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

/**
 * A failure the CLI itself detects (no store given, config not found, not a Tandem store...):
 * a stable code, one line, one hint and the exit code, like a TandemError.
 */
export class CliError extends Error {
  readonly code: string
  readonly hint: string
  readonly exitCode: number

  constructor(code: string, message: string, hint: string, exitCode: number = EXIT.failed) {
    super(message)
    this.name = 'CliError'
    this.code = code
    this.hint = hint
    this.exitCode = exitCode
  }
}

export function createContext(values: CommandContext['values'], positionals: string[]): CommandContext {
  const json = values.json === true
  const stderrTty = process.stderr.isTTY === true && !json
  let progressShown = false
  const clearProgress = () => {
    if (progressShown) process.stderr.write('\r\x1b[2K')
    progressShown = false
  }
  return {
    values,
    positionals,
    json,
    verbose: values.verbose === true,
    out: (line) => {
      if (!json) {
        clearProgress()
        process.stdout.write(`${line}\n`)
      }
    },
    log: (line) => {
      clearProgress()
      ;(json ? process.stderr : process.stdout).write(`${line}\n`)
    },
    note: (line) => {
      clearProgress()
      process.stderr.write(`${line}\n`)
    },
    progress: (line) => {
      if (!stderrTty) return
      const width = process.stderr.columns ?? 80
      process.stderr.write(`\r\x1b[2K${line.slice(0, Math.max(10, width - 1))}`)
      progressShown = true
    },
    result: (value) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
    paint: painter(!json && colorEnabled(process.stdout)),
  }
}

/** True when `error` (or its cause) is Node failing to load the optional `pg` package. */
function isPostgresDriverMissing(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code
    if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && /['"]pg['"]/.test(e.message)) return true
  }
  return false
}

function classify(error: unknown): { code: string; message: string; hint: string | undefined; exitCode: number } {
  const message = error instanceof Error ? error.message : String(error)
  if (error instanceof CliError) return { code: error.code, message, hint: error.hint, exitCode: error.exitCode }
  if (error instanceof TandemError) return { code: error.code, message, hint: error.hint, exitCode: EXIT.failed }
  if (isPostgresDriverMissing(error)) {
    // The library's own code and words for this (openStore throws them); the CLI meets it first when it checks a url.
    return {
      code: 'MISSING_DEPENDENCY',
      message: 'PostgreSQL stores need the "pg" package, which is not installed. Nothing was opened.',
      hint: 'Run "npm install pg" in your project (npm install -g pg for a global tandem), then retry.',
      exitCode: EXIT.failed,
    }
  }
  if (error instanceof TypeError || error instanceof RangeError) {
    // node:util parseArgs explains over several lines; a failure is one line here. A bad argument
    // the library names with a code of its own (INVALID_ID) keeps it.
    const own = (error as { code?: unknown }).code
    const code = typeof own === 'string' && /^[A-Z][A-Z_]+$/.test(own) && !own.startsWith('ERR_') ? own : 'USAGE'
    return {
      code,
      message: message.replace(/\s*\n\s*/g, ' '),
      hint: 'Run "tandem help <command>" for the accepted options.',
      exitCode: EXIT.usage,
    }
  }
  return { code: 'INTERNAL', message, hint: 'Run again with --verbose and report the stack trace.', exitCode: EXIT.failed }
}

/**
 * The code and hint a failure is reported with, and the exit code it maps to. A PostgreSQL url
 * quoted in the message or hint is printed with its password masked.
 */
export function describeFailure(error: unknown): { code: string; message: string; hint: string | undefined; exitCode: number } {
  const failure = classify(error)
  return { ...failure, message: maskUrlsIn(failure.message), hint: failure.hint === undefined ? undefined : maskUrlsIn(failure.hint) }
}

/** Prints a failure as code, one summary line and one "try this" line (or a JSON error document). */
export function reportError(error: unknown, json: boolean, verbose: boolean): number {
  const { code, message, hint, exitCode } = describeFailure(error)
  if (json) process.stdout.write(`${JSON.stringify({ error: { code, message, hint: hint ?? null } })}\n`)
  else {
    const paint = painter(colorEnabled(process.stderr))
    process.stderr.write(`${paint(`error ${code}`, 'red')}: ${message}\n`)
    if (hint !== undefined) process.stderr.write(`try: ${hint}\n`)
  }
  if (verbose && error instanceof Error && error.stack !== undefined) {
    process.stderr.write(`${maskUrlsIn(error.stack)}\n`)
    if (error.cause instanceof Error && error.cause.stack !== undefined)
      process.stderr.write(`caused by: ${maskUrlsIn(error.cause.stack)}\n`)
  }
  return exitCode
}
