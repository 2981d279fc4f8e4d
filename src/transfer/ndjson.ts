import type { Writable } from 'node:stream'
import { ImportError } from './import-error.js'

/** One line of NDJSON input: its text (without the newline) and its 1-based number. */
export interface Line {
  text: string
  number: number
}

/**
 * The longest line export writes and import reads unless told otherwise (a record of 16 MiB is
 * already far beyond a sane one). Export and import share it, so whatever an export with the
 * defaults writes, an import with the defaults reads.
 */
export const DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024
/** The most `maxLineBytes` may be: 1 GiB (a JavaScript string holds about 512 M characters at most). */
export const MAX_LINE_BYTES_LIMIT = 2 ** 30

/** Checks a `maxLineBytes` option (export's or import's), naming it. */
export function checkMaxLineBytes(value: unknown): number {
  if (value === undefined) return DEFAULT_MAX_LINE_BYTES
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_LINE_BYTES_LIMIT) {
    throw new RangeError(
      `maxLineBytes must be an integer from 1 to ${MAX_LINE_BYTES_LIMIT} (1 GiB) (got ${typeof value === 'number' ? String(value) : (JSON.stringify(value) ?? typeof value)}).`,
    )
  }
  return value
}
const NEWLINE = 0x0a

function lineError(number: number, name: string, problem: string, hint: string, cause?: unknown): ImportError {
  return new ImportError('INVALID_DATA', { text: `line ${number} of ${name}`, line: number }, problem, { hint, cause })
}

/**
 * Splits a byte stream into lines, holding at most one line (plus one chunk) in memory however
 * large the input is. Accepts LF and CRLF line ends and a UTF-8 byte-order mark. Throws
 * an ImportError (INVALID_DATA) naming the line when a line is not valid UTF-8 or longer than
 * `maxLineBytes` — a number, or a function asked at every line (an export's header may raise the
 * limit for the lines after it).
 */
export async function* readLines(
  source: AsyncIterable<Buffer | string>,
  name: string,
  limit: number | (() => number) = DEFAULT_MAX_LINE_BYTES,
): AsyncGenerator<Line> {
  const maxBytes = typeof limit === 'number' ? () => limit : limit
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })
  let pending: Buffer[] = []
  let pendingBytes = 0
  let number = 0
  const decode = (bytes: Uint8Array): string => {
    let end = bytes.length
    if (end > 0 && bytes[end - 1] === 0x0d) end-- // CRLF
    try {
      // ignoreBOM: false drops a UTF-8 byte-order mark at the start of a line (editors put one on line 1).
      return decoder.decode(bytes.subarray(0, end))
    } catch (error) {
      throw lineError(number, name, 'The line is not valid UTF-8 text.', 'Save the file as UTF-8.', error)
    }
  }
  for await (const chunk of source) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk
    let start = 0
    for (let at = bytes.indexOf(NEWLINE, start); at !== -1; at = bytes.indexOf(NEWLINE, start)) {
      number++
      const piece = bytes.subarray(start, at)
      if (pendingBytes + piece.length > maxBytes()) throw tooLong(number, name, maxBytes())
      const whole = pending.length === 0 ? piece : Buffer.concat([...pending, piece])
      pending = []
      pendingBytes = 0
      yield { text: decode(whole), number }
      start = at + 1
    }
    if (start < bytes.length) {
      const rest = bytes.subarray(start)
      pendingBytes += rest.length
      if (pendingBytes > maxBytes()) throw tooLong(number + 1, name, maxBytes())
      // Copy: the stream may reuse its chunk buffers.
      pending.push(Buffer.from(rest))
    }
  }
  if (pendingBytes > 0) {
    number++
    yield { text: decode(Buffer.concat(pending)), number }
  }
}

function tooLong(number: number, name: string, maxLineBytes: number): ImportError {
  return lineError(
    number,
    name,
    `The line is longer than ${maxLineBytes} bytes (maxLineBytes).`,
    'Check that the file is NDJSON (one record per line), or raise maxLineBytes (tandem import --max-line-bytes).',
  )
}

/**
 * Collects lines into chunks of about 64 KiB and hands each to `write`, awaiting it: few large
 * writes instead of one per record, and the producer waits whenever the destination is slow.
 */
export class LineWriter {
  #buffer: string[] = []
  #length = 0
  #bytes = 0
  readonly #write: (chunk: string) => Promise<void>

  constructor(write: (chunk: string) => Promise<void>) {
    this.#write = write
  }

  /** Bytes handed to the destination so far. */
  get bytes(): number {
    return this.#bytes
  }

  async line(text: string): Promise<void> {
    this.#buffer.push(text, '\n')
    this.#length += text.length + 1
    if (this.#length >= 64 * 1024) await this.flush()
  }

  async flush(): Promise<void> {
    if (this.#buffer.length === 0) return
    const chunk = this.#buffer.join('')
    this.#buffer = []
    this.#length = 0
    this.#bytes += Buffer.byteLength(chunk)
    await this.#write(chunk)
  }
}

/** Writes a chunk to a stream and resolves once it is flushed (or rejects with the stream's error). */
export function writeToStream(stream: Writable): (chunk: string) => Promise<void> {
  return (chunk) =>
    new Promise<void>((resolve, reject) => {
      if (stream.destroyed || stream.writableEnded) {
        reject(new Error('The export stream was closed before the export finished.'))
        return
      }
      stream.write(chunk, (error) => (error ? reject(error) : resolve()))
    })
}
