import { join } from 'node:path'
import { expect, test } from 'vitest'
import { openStore } from '../../src/index.js'
import { importStore } from '../../src/lifecycle.js'
import { MAX_HEADER_LINE_BYTES } from '../../src/transfer/import.js'
import { tempDir } from '../helpers/backends.js'

// An import file's header could raise the line limit to 1 GiB: an untrusted file made the importer
// buffer up to 64 times the default. The header now raises it to 256 MiB at most; only the
// caller's own maxLineBytes goes higher.

const MiB = 1024 * 1024
const HEADER = `${JSON.stringify({ tandem: 'export', format: 2, kind: 'sqlite', collections: ['tasks'], exportedAt: '2025-01-31T12:00:00.000Z', snapshot: true, schemaVersion: 0, maxLineBytes: 2 ** 30 })}\n`

/** A header claiming 1 GiB lines, then one endless line; counts what the importer read. */
function endlessLine(read: { bytes: number }, stopAt: number): AsyncIterable<Buffer> {
  const chunk = Buffer.alloc(4 * MiB, 'x')
  return (async function* () {
    yield Buffer.from(HEADER)
    while (read.bytes < stopAt) {
      read.bytes += chunk.length
      yield chunk
    }
    throw new Error(`the importer read ${read.bytes / MiB} MiB of one line without stopping`)
  })()
}

test('a header claiming 1 GiB lines raises the import line limit to 256 MiB only', async () => {
  expect(MAX_HEADER_LINE_BYTES).toBe(256 * MiB)
  const store = await openStore({ path: join(tempDir(), 'app.db'), role: 'app', collections: { tasks: { writers: ['app'] } } })
  try {
    const read = { bytes: 0 }
    const error = await importStore(store, { from: endlessLine(read, 300 * MiB), onConflict: 'fail' }).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'INVALID_DATA', message: expect.stringContaining(`longer than ${256 * MiB} bytes`) })
    expect(read.bytes).toBeLessThanOrEqual(256 * MiB + 4 * MiB)
  } finally {
    await store.close()
  }
}, 60_000)

test('an explicit maxLineBytes above 256 MiB is the limit, whatever the header says', async () => {
  const store = await openStore({ path: join(tempDir(), 'app.db'), role: 'app', collections: { tasks: { writers: ['app'] } } })
  try {
    const read = { bytes: 0 }
    const error = await importStore(store, { from: endlessLine(read, 320 * MiB), onConflict: 'fail', maxLineBytes: 300 * MiB }).catch(
      (e: unknown) => e,
    )
    expect(error).toMatchObject({ code: 'INVALID_DATA', message: expect.stringContaining(`longer than ${300 * MiB} bytes`) })
  } finally {
    await store.close()
  }
}, 60_000)
