import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { TARGETS, tempDir } from '../helpers/backends.js'
import { waitUntil } from '../helpers/processes.js'

// Skipped on remote: TANDEM_RETAIN_* are read by the server process (lacks.environment, test/helpers/backends.ts).
/** Every archived record (id → data), reading every NDJSON file under dir/collection. */
function archived(dir: string, collection: string): Map<string, unknown> {
  const out = new Map<string, unknown>()
  let files: string[]
  try {
    files = readdirSync(join(dir, collection))
  } catch {
    return out
  }
  for (const file of files) {
    for (const line of readFileSync(join(dir, collection, file), 'utf8').split('\n')) {
      if (line.trim() === '') continue
      const entry = JSON.parse(line) as { id: string; data: unknown; collection: string }
      expect(entry.collection).toBe(collection)
      out.set(entry.id, entry.data)
    }
  }
  return out
}

describe.each(TARGETS)('retention on $name', (backend) => {
  test('keeps exactly maxCount, newest first, and archive plus store hold every record ever written', async () => {
    const archiveDir = tempDir()
    const store = await (
      await backend.tempStore()
    )({ role: 'daemon', archiveDir, collections: { events: { writers: '*', retain: { maxCount: 100 } } } })
    const written = new Map<string, unknown>()
    for (let i = 0; i < 250; i++) {
      const r = await store.collection('events').insert({ i })
      written.set(r.id, r.data)
    }
    const result = await store.compact()
    expect(await store.collection('events').count()).toBe(100)
    const kept = await store.collection('events').find()
    expect(kept.map((r) => r.data.i)).toEqual(Array.from({ length: 100 }, (_, i) => 150 + i))
    const inArchive = archived(archiveDir, 'events')
    expect(result.trimmed.events! + 0).toBeGreaterThanOrEqual(0)
    const union = new Map([...inArchive, ...kept.map((r) => [r.id, r.data] as const)])
    expect(union).toEqual(written)
    expect(inArchive.size).toBe(150)
  })

  test('amortised: writes trigger retention by themselves, without compact()', async () => {
    const archiveDir = tempDir()
    const store = await (
      await backend.tempStore()
    )({ role: 'daemon', archiveDir, collections: { events: { writers: '*', retain: { maxCount: 20 } } } })
    for (let i = 0; i < 450; i++) await store.collection('events').insert({ i })
    // The pass the last hundred writes started runs in the background: wait for it, however long a
    // busy machine takes (a pass that never runs leaves 450 and fails the wait).
    let count = 450
    await waitUntil(
      async () => (count = await store.collection('events').count()) <= 20 + 100,
      'a retention pass to trim to 20 + the writes since',
    )
    expect(count).toBeLessThanOrEqual(20 + 100)
    expect(archived(archiveDir, 'events').size + (await store.collection('events').count())).toBe(450)
  })

  // The young record must still be younger than this when compact() runs, right after it was
  // written: a second is far beyond what load adds to an insert and a compact (50 ms was not).
  const MAX_AGE_MS = 1000
  test('maxAgeMs trims records older than the limit; archive: false deletes without archiving', async () => {
    const archiveDir = tempDir()
    const store = await (
      await backend.tempStore()
    )({
      role: 'daemon',
      archiveDir,
      collections: { logs: { writers: '*', retain: { maxAgeMs: MAX_AGE_MS, archive: false } } },
    })
    await store.collection('logs').insert({ old: true })
    // Load only makes this wait longer: the first record is old enough in any case.
    await new Promise((resolve) => setTimeout(resolve, MAX_AGE_MS + 200))
    await store.collection('logs').insert({ old: false })
    expect((await store.compact()).trimmed.logs).toBe(1)
    expect((await store.collection('logs').find()).map((r) => r.data.old)).toEqual([false])
    expect(archived(archiveDir, 'logs').size).toBe(0)
  })

  test('trims appear in the change feed as op "trim": tombstones, or with the last data under history: \'full\'', async () => {
    const store = await (
      await backend.tempStore()
    )({
      role: 'daemon',
      archiveDir: tempDir(),
      collections: {
        events: { writers: '*', retain: { maxCount: 2 }, history: 'full' },
        pings: { writers: '*', retain: { maxCount: 1 } },
      },
    })
    await store.collection('pings').insert({ p: 0 })
    await store.collection('pings').insert({ p: 1 })
    for (let i = 0; i < 4; i++) await store.collection('events').insert({ i })
    const feed = store.changes()
    await store.compact()
    const trims = [(await feed.next()).value, (await feed.next()).value, (await feed.next()).value]
    expect(trims.map((c) => [c?.collection, c?.op, c?.data])).toEqual([
      ['events', 'trim', { i: 0 }],
      ['events', 'trim', { i: 1 }],
      ['pings', 'trim', undefined],
    ])
    feed.close()
  })

  test.skipIf(backend.lacks.environment !== undefined)('environment variables override the configured limits', async () => {
    process.env.TANDEM_RETAIN_EVENTS_MAX_COUNT = '3'
    try {
      const store = await (
        await backend.tempStore()
      )({ role: 'daemon', archiveDir: tempDir(), collections: { events: { writers: '*', retain: { maxCount: 1000 } } } })
      for (let i = 0; i < 10; i++) await store.collection('events').insert({ i })
      await store.compact()
      expect(await store.collection('events').count()).toBe(3)
    } finally {
      delete process.env.TANDEM_RETAIN_EVENTS_MAX_COUNT
    }
    const open = await backend.tempStore()
    process.env.TANDEM_RETAIN_EVENTS_MAX_COUNT = 'lots'
    try {
      await expect(open({ role: 'd', collections: { events: { writers: '*' } } })).rejects.toThrow(
        /TANDEM_RETAIN_EVENTS_MAX_COUNT must be a positive integer/,
      )
    } finally {
      delete process.env.TANDEM_RETAIN_EVENTS_MAX_COUNT
    }
  })
})
