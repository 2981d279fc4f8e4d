/**
 * Options objects of the public functions: one check, so that every function refuses a misspelled
 * option the same way, naming the options it takes, instead of silently ignoring it.
 */

/**
 * Throws a TypeError when `options` is not an object (`needs` says what it should look like) or
 * holds a key outside `allowed`. `where` completes "Unknown option "x" …": 'for restoreStore',
 * 'in collection "tasks"'.
 */
export function checkOptions(options: unknown, allowed: readonly string[], where: string, needs?: string): asserts options is object {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(needs ?? `The options ${where} must be an object (got ${JSON.stringify(options)}).`)
  }
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) throw new TypeError(`Unknown option "${key}" ${where}; the options are ${allowed.join(', ')}.`)
  }
}
