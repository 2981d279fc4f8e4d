// Compact summaries of lists, so logs stay small however long the lists grow: a read or a change
// logs { len, last, h } instead of the whole list, where h is a 52-bit hash of the list. The
// checker hashes every prefix of each final list once and compares: a read whose (len, h) matches
// the final list's prefix of that length saw exactly that prefix (a mismatch is never missed; two
// different lists share a hash with odds of 2^-52).

const OFFSET_A = 0x811c9dc5
const OFFSET_B = 0x01000193 ^ 0x5bd1e995

function step(h, text, prime) {
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, prime)
  }
  return Math.imul(h ^ 10, prime) >>> 0 // A separator after each element.
}

function format(a, b) {
  return ((a >>> 0) * 2 ** 20 + ((b >>> 0) & 0xfffff)).toString(36)
}

/** The hash of a list of strings. */
export function listDigest(list) {
  let a = OFFSET_A
  let b = OFFSET_B
  for (const value of list) {
    a = step(a, value, 0x01000193)
    b = step(b, value, 0x0100019d)
  }
  return format(a, b)
}

/** digests[i] is the hash of list.slice(0, i), for i = 0 .. list.length. */
export function prefixDigests(list) {
  const out = [format(OFFSET_A, OFFSET_B)]
  let a = OFFSET_A
  let b = OFFSET_B
  for (const value of list) {
    a = step(a, value, 0x01000193)
    b = step(b, value, 0x0100019d)
    out.push(format(a, b))
  }
  return out
}

/** A record's data as logged: the list summarised, the counter and fields as they are. */
export function summarize(data) {
  const list = data.l ?? []
  return { len: list.length, last: list.length === 0 ? null : list[list.length - 1], h: listDigest(list), n: data.n, a: data.a, b: data.b }
}
