import { join } from 'node:path'
import { expect, test } from 'vitest'
import { openStore } from '../../src/index.js'
import { tempDir } from '../helpers/backends.js'
import { LAST_RESORT_TIMEOUT_MS, forkWorker } from '../helpers/processes.js'

test(
  '8 processes opening a fresh store at the same instant run each migration exactly once',
  async () => {
    const path = join(tempDir(), 'store.db')
    const workers = Array.from({ length: 8 }, () => forkWorker('migrator.mjs', { path }))
    await Promise.all(workers.map((w) => w.waitFor('ready')))
    for (const w of workers) w.send({ type: 'go' })
    const opened = await Promise.all(workers.map((w) => w.waitFor('opened')))

    const statuses = (version: number) =>
      opened.map((o) => (o.outcomes as { version: number; status: string }[]).find((x) => x.version === version)?.status)
    for (const version of [1, 2]) {
      const s = statuses(version)
      expect(
        s.filter((x) => x === 'applied'),
        `migration ${version}`,
      ).toHaveLength(1)
      expect(s.filter((x) => x === 'already-applied')).toHaveLength(7)
    }
    expect(opened.every((o) => o.storeVersion === 2)).toBe(true)

    const store = await openStore({ path, role: 'server', collections: { projects: { writers: ['server'] } }, onNewerSchema: 'read-only' })
    const records = await store.collection('projects').find()
    await store.close()
    expect(records.map((r) => r.data.by).sort()).toEqual(['migration 1', 'migration 2'])
    expect(records.find((r) => r.data.by === 'migration 1')?.data.owner).toMatch(/^pid \d+$/)
  },
  LAST_RESORT_TIMEOUT_MS,
)
