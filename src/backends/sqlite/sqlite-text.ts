import type { FieldRef, RecordRow, Scalar } from '../backend.js'

/**
 * Text that is not well-formed UTF-16, as SQLite holds it. JSON keeps a lone surrogate as an escape
 * (`"\ud800"`), which SQLite's JSON functions turn into the three bytes UTF-8 would give that code
 * unit (ED A0 80: "WTF-8"), and SQLite compares text as bytes. The driver decodes such bytes to
 * U+FFFD, so a page cursor built from what it returned pointed somewhere else in the order: pages
 * skipped records ascending and looped descending (issue #16). Tandem refuses these strings at
 * write now, but stores written before may hold them: these helpers read and bind them exactly.
 */

/** True when `text` holds no lone UTF-16 surrogate. */
export function isWellFormedText(text: string): boolean {
  return (text as string & { isWellFormed(): boolean }).isWellFormed()
}

/** The bytes SQLite holds for `text`: UTF-8, with each lone surrogate as its own three bytes. */
export function encodeWtf8(text: string): Buffer {
  const bytes: number[] = []
  // for...of walks code points: a pair gives one (four bytes), a lone surrogate itself (three).
  for (const char of text) {
    const cp = char.codePointAt(0)!
    if (cp < 0x80) bytes.push(cp)
    else if (cp < 0x800) bytes.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f))
    else if (cp < 0x10000) bytes.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f))
    else bytes.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f))
  }
  return Buffer.from(bytes)
}

/**
 * The string whose WTF-8 bytes these are: UTF-8 as usual, three-byte surrogates as lone code
 * units. Any other byte that is not UTF-8 (only a program other than Tandem writes those) becomes
 * U+FFFD, as the driver does.
 */
export function decodeWtf8(bytes: Uint8Array): string {
  const decoded = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')
  if (!decoded.includes('\uFFFD')) return decoded
  let out = ''
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i]!
    const need = b < 0x80 ? 0 : b >= 0xc2 && b < 0xe0 ? 1 : b >= 0xe0 && b < 0xf0 ? 2 : b >= 0xf0 && b < 0xf5 ? 3 : -1
    let cp = need === 0 ? b : need === 1 ? b & 0x1f : need === 2 ? b & 0x0f : b & 0x07
    let ok = need >= 0 && i + need < bytes.length
    for (let k = 1; ok && k <= need; k++) {
      const c = bytes[i + k]!
      if ((c & 0xc0) !== 0x80) ok = false
      else cp = (cp << 6) | (c & 0x3f)
    }
    // Overlong forms and values past U+10FFFF are not UTF-8; surrogates (D800-DFFF) are kept.
    if (ok && ((need === 2 && cp < 0x800) || (need === 3 && (cp < 0x10000 || cp > 0x10ffff)))) ok = false
    if (!ok) {
      out += '\uFFFD'
      i++
      continue
    }
    out += String.fromCodePoint(cp)
    i += need + 1
  }
  return out
}

/**
 * The exact sort value of a found row: what the driver returned, except where it decoded bytes it
 * could not (U+FFFD): then the id as decoded from its bytes, or the field's string as JSON.parse
 * read it from the record's data (the JSON keeps a lone surrogate as an escape, so it is exact).
 */
export function exactSortValue(returned: Scalar | undefined, field: FieldRef, row: RecordRow): Scalar {
  if (field.kind === 'meta' && field.name === 'id') return row.id
  if (field.kind === 'data' && typeof returned === 'string' && returned.includes('\uFFFD')) {
    let value: unknown = row.data
    for (const segment of field.path)
      value = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>)[segment] : undefined
    if (typeof value === 'string') return value
  }
  return returned ?? null
}
