import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { openStore } from '../../src/index.js'
import { tempDir } from '../helpers/backends.js'
import { runCli, runCliJson } from '../helpers/cli.js'
import { forkWorker } from '../helpers/processes.js'
import { writeFileSync } from 'node:fs'

const COLLECTIONS = { tasks: { writers: ['server', 'cli'] }, notes: { writers: ['server'] } }

async function seeded(dir: string, name = 'app.db'): Promise<string> {
  const path = join(dir, name)
  const store = await openStore({ path, role: 'server', collections: COLLECTIONS })
  await store.collection('tasks').insertMany([{ title: 'a' }, { title: 'b' }, { title: 'c' }])
  await store.collection('notes').insert({ text: 'n' })
  await store.close()
  return path
}

test('export writes NDJSON (to a file or stdout); import loads it into another store, dry run first, conflicts by policy', async () => {
  const dir = tempDir()
  const source = await seeded(dir)
  const out = join(dir, 'app.ndjson')
  const exported = runCliJson<{ records: number; collections: Record<string, number>; snapshot: boolean }>(['export', source, '--out', out])
  expect(exported.status).toBe(0)
  expect(exported.result).toMatchObject({ records: 4, collections: { notes: 1, tasks: 3 }, snapshot: true })
  const piped = runCli(['export', source, '--collection', 'tasks'])
  expect(piped.status).toBe(0)
  expect(piped.stdout.trim().split('\n')).toHaveLength(5) // header, 3 records, end line
  expect(piped.stderr).toMatch(/^Exported 3 records \(tasks 3\)/)
  expect(runCliJson(['export', source]).result).toMatchObject({
    error: { code: 'USAGE', message: expect.stringMatching(/--json needs --out/) },
  })

  // A second project whose config declares the same collections.
  const project = tempDir()
  writeFileSync(join(project, 'tandem.config.json'), JSON.stringify({ path: 'copy.db', collections: COLLECTIONS }))
  runCli(['migrate'], { cwd: project })
  const dry = runCliJson<{ dryRun: boolean; records: number; collections: Record<string, { inserted: number }> }>(
    ['import', out, '--dry-run'],
    { cwd: project },
  )
  expect(dry.status).toBe(0)
  expect(dry.result).toMatchObject({ dryRun: true, records: 4, collections: { tasks: { inserted: 3 }, notes: { inserted: 1 } } })
  expect(runCliJson<{ records: unknown[] }>(['find', 'tasks'], { cwd: project }).result.records).toEqual([])

  const human = runCli(['import', out], { cwd: project })
  expect(human.status, human.stderr).toBe(0)
  expect(human.stdout).toMatch(/tasks\s+3\s+0\s+0[\s\S]*Imported 4 records/)
  const again = runCliJson(['import', out], { cwd: project })
  expect(again).toMatchObject({
    status: 3,
    result: { error: { code: 'DUPLICATE_ID', message: expect.stringMatching(/^Line 2 of app\.ndjson: .*rolled back/) } },
  })
  const skipped = runCliJson<{ collections: Record<string, { skipped: number }> }>(['import', out, '--on-conflict', 'skip'], {
    cwd: project,
  })
  expect(skipped.result.collections).toEqual({
    notes: { inserted: 0, overwritten: 0, skipped: 1 },
    tasks: { inserted: 0, overwritten: 0, skipped: 3 },
  })
  expect(runCli(['import', out, '--on-conflict', 'maybe'], { cwd: project }).status).toBe(2)
})

test('backup writes a verified copy; restore puts it back, refusing while another process has the store open unless --force', async () => {
  const dir = tempDir()
  const path = await seeded(dir)
  const dest = join(dir, 'backups', 'app-1.db')
  const backedUp = runCliJson<{ path: string; integrity: string; format: string }>(['backup', path, '--out', dest])
  expect(backedUp.status).toBe(0)
  expect(backedUp.result).toMatchObject({ path: dest, integrity: 'ok', format: 'sqlite' })
  expect(runCli(['backup', path]).status).toBe(2) // --out is required

  const later = await openStore({ path, role: 'server', collections: COLLECTIONS })
  await later.collection('tasks').insert({ title: 'after the backup' })
  await later.close()

  const holder = forkWorker('store-holder.mjs', { config: { path, role: 'server', collections: COLLECTIONS } })
  await holder.waitFor('ready')
  const refused = runCli(['restore', dest, path])
  expect(refused.status).toBe(3)
  expect(refused.stderr).toMatch(/^error STORE_IN_USE: .*\ntry: .*--force/)
  holder.send({ type: 'cmd', action: 'stop' })
  await holder.waitFor('closed')

  const restored = runCliJson<{ method: string; integrity: string }>(['restore', dest, path])
  expect(restored.status).toBe(0)
  expect(restored.result).toMatchObject({ method: 'replaced', integrity: 'ok' })
  expect(runCliJson<{ collections: { name: string; count: number }[] }>(['status', path]).result.collections).toContainEqual(
    expect.objectContaining({ name: 'tasks', count: 3 }),
  )
  expect(runCli(['doctor', path]).status).toBe(0)

  const fresh = join(dir, 'elsewhere', 'new.db')
  expect(runCliJson(['restore', dest, fresh]).result).toMatchObject({ method: 'created' })
  expect(existsSync(fresh)).toBe(true)
  expect(readFileSync(dest).subarray(0, 15).toString()).toBe('SQLite format 3')
})
