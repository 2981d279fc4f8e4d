import { readFileSync } from 'node:fs'
import type { JsonObject } from '../index.js'
import { truncate } from './format.js'
import type { CommandContext } from './output.js'
import { unknownName } from './suggest.js'

/**
 * Parses a JSON option. `@file` reads the JSON from a file and `-` from standard input, for
 * data too long or too quoted for a shell argument. Throws TypeError (exit 2) naming the option.
 */
export function jsonOption(value: string | boolean | undefined, option: string): unknown {
  if (typeof value !== 'string') return undefined
  let text = value
  try {
    if (value === '-') text = readFileSync(0, 'utf8')
    else if (value.startsWith('@')) text = readFileSync(value.slice(1), 'utf8')
  } catch (error) {
    throw new TypeError(`${option} ${value}: could not read it (${(error as Error).message}).`, { cause: error })
  }
  try {
    return JSON.parse(text) as unknown
  } catch (error) {
    throw new TypeError(`${option} is not valid JSON (${(error as Error).message}): ${truncate(text.trim(), 60)}`, { cause: error })
  }
}

/** A JSON option that must hold an object: --data, --where. */
export function jsonObjectOption(value: string | boolean | undefined, option: string, required: boolean): JsonObject | undefined {
  const parsed = jsonOption(value, option)
  if (parsed === undefined) {
    if (required) throw new TypeError(`${option} is required: a JSON object, e.g. ${option} '{"title":"write docs"}'.`)
    return undefined
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new TypeError(`${option} must be a JSON object (got ${Array.isArray(parsed) ? 'an array' : JSON.stringify(parsed)}).`)
  return parsed as JsonObject
}

/** A positive integer option (--limit, --if-version), or undefined when not given. */
export function integerOption(value: string | boolean | undefined, option: string, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : Number.NaN
  if (!Number.isSafeInteger(n) || n < 1 || n > max)
    throw new RangeError(`${option} must be an integer from 1 to ${max} (got ${JSON.stringify(value)}).`)
  return n
}

/** The positional arguments a command needs, or a usage error naming the first missing one. */
export function positionals(ctx: CommandContext, names: readonly string[], optional: readonly string[] = []): string[] {
  const given = ctx.positionals
  const missing = names[given.length]
  if (missing !== undefined) throw new TypeError(`Missing <${missing}>.`)
  if (given.length > names.length + optional.length) throw new TypeError(`Unexpected argument "${given[names.length + optional.length]}".`)
  return given
}

/** An option that takes one of a few words (--on-conflict), `fallback` when not given; a typo gets a suggestion. */
export function choiceOption<T extends string>(value: string | boolean | undefined, option: string, choices: readonly T[], fallback: T): T {
  if (value === undefined) return fallback
  if (typeof value === 'string' && (choices as readonly string[]).includes(value)) return value as T
  throw unknownName({
    message: `${option} must be one of ${choices.join(', ')} (got ${JSON.stringify(value)}).`,
    given: String(value),
    known: choices,
    hint: `Use one of: ${choices.join(', ')}.`,
  })
}
