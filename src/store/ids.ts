import { monotonicFactory } from 'ulid'

const nextUlid = monotonicFactory()
const ID_PATTERN = /^[^\u0000-\u001f\u007f]{1,256}$/

/**
 * A new record id: a ULID, 26 characters that sort by creation time (strictly increasing within
 * one process; across processes, ordered by millisecond, random within one).
 */
export function newId(): string {
  return nextUlid()
}

/** Checks a caller-given id: a string of 1 to 256 characters without control characters. */
export function checkId(id: unknown): string {
  if (typeof id !== 'string' || !ID_PATTERN.test(id)) {
    throw new TypeError(`A record id must be a string of 1 to 256 characters without control characters (got ${JSON.stringify(id)?.slice(0, 60) ?? String(id)}).`)
  }
  return id
}
