import { randomFillSync } from 'node:crypto'
import { monotonicFactory } from 'ulid'

/**
 * Random bytes for ids, drawn from the OS 4 KiB at a time: ulid's default asks `crypto` for one
 * byte per character, sixteen calls for each new millisecond, which was 7% of a single insert.
 */
const pool = new Uint8Array(4096)
let next = pool.length

function pooledRandom(): number {
  if (next === pool.length) {
    randomFillSync(pool)
    next = 0
  }
  // ulid maps [0, 1) onto its 32 characters; a byte / 256 covers them evenly.
  return pool[next++]! / 256
}

const nextUlid = monotonicFactory(pooledRandom)
// Control characters are exactly what this pattern refuses.
// eslint-disable-next-line no-control-regex
const ID_PATTERN = /^[^\u0000-\u001f\u007f]{1,256}$/

/**
 * A new record id: a ULID, 26 characters that sort by creation time (strictly increasing within
 * one process; across processes, ordered by millisecond, random within one).
 */
export function newId(): string {
  return nextUlid()
}

/** True when `text` holds no lone UTF-16 surrogate, i.e. it is a sequence of Unicode characters. */
export function isWellFormed(text: string): boolean {
  // String.prototype.isWellFormed is native from Node 20 (V8 11.1); typed from ES2024 only.
  return (text as string & { isWellFormed(): boolean }).isWellFormed()
}

/** A value quoted for a message, whatever it is (a BigInt, a Symbol, a cyclic object). */
function quote(value: unknown): string {
  try {
    return JSON.stringify(value)?.slice(0, 60) ?? String(value)
  } catch {
    return typeof value === 'object' ? 'an object' : typeof value
  }
}

function invalidId(message: string): TypeError {
  // A bad argument, like Node's own ERR_INVALID_ARG_TYPE: a TypeError with a code to match on.
  return Object.assign(new TypeError(message), { code: 'INVALID_ID' as const })
}

/**
 * Checks a caller-given id: a string of 1 to 256 characters without control characters or lone
 * UTF-16 surrogates. Throws a TypeError with code INVALID_ID otherwise. A lone surrogate is refused
 * because no engine stores it as itself: 'x\uD800' and 'x\uDBFF' would read back as one same id.
 */
export function checkId(id: unknown): string {
  if (typeof id !== 'string' || !ID_PATTERN.test(id)) {
    throw invalidId(`A record id must be a string of 1 to 256 characters without control characters (got ${quote(id)}).`)
  }
  if (!isWellFormed(id)) {
    throw invalidId(
      `A record id must be text, but ${quote(id)} holds a lone UTF-16 surrogate (half of a pair, as left by cutting a string in the middle of an emoji, say). Use well-formed text, or encode the id.`,
    )
  }
  return id
}
