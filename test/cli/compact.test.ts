import { copyFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { openStore } from '../../src/index.js'
import { tempDir } from '../helpers/backends.js'
import { runCli, runCliJson } from '../helpers/cli.js'

const FIXTURE = join(import.meta.dirname, '../fixtures/store-before-25.db')

interface CompactJson {
  trimmed: Record<string, number>
  changesTrimmed: number
  reclaimed: { bytesBefore: number; bytesAfter: number; rewritten: boolean; longestBlockMs: number; steps: number }
}

test('tandem compact applies retention, then gives the free pages back; an old file is rewritten once', async () => {
  const dir = tempDir()
  writeFileSync(
    join(dir, 'tandem.config.json'),
    JSON.stringify({
      path: 'app.db',
      collections: { notes: { writers: '*' }, blobs: { writers: '*', retain: { maxCount: 1, archive: false } } },
    }),
  )
  copyFileSync(FIXTURE, join(dir, 'app.db'))
  const first = runCliJson<CompactJson>(['compact'], { cwd: dir })
  expect(first.status).toBe(0)
  expect(first.result.reclaimed.rewritten).toBe(true)

  const store = await openStore({
    path: join(dir, 'app.db'),
    role: 'app',
    collections: { notes: { writers: '*' }, blobs: { writers: '*' } },
  })
  await store.collection('blobs').insertMany(Array.from({ length: 300 }, (_, i) => ({ i, pad: 'x'.repeat(4000) })))
  await store.close()
  const second = runCliJson<CompactJson>(['compact'], { cwd: dir })
  expect(second.status).toBe(0)
  expect(second.result.trimmed.blobs).toBe(300) // the fixture's b1 and 299 of the new ones
  expect(second.result.reclaimed.rewritten).toBe(false)
  expect(second.result.reclaimed.bytesAfter).toBeLessThan(second.result.reclaimed.bytesBefore - 1_000_000)

  const text = runCli(['compact'], { cwd: dir })
  expect(text.status).toBe(0)
  expect(text.stdout).toMatch(/trimmed 0 record\(s\) by retention/)
  expect(text.stdout).toMatch(/size .* → .* in \d+ step\(s\)/)
})
