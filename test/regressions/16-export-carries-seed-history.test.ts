import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { type Migration } from '../../src/index.js'
import { exportStore, importStore } from '../../src/lifecycle.js'
import { BACKENDS, tempDir } from '../helpers/backends.js'

// Found next to issue 16: export and import did not carry the record of which seeded defaults were
// applied (the internal _seeds collection; copyStore carries it). A seeded record the user had
// deleted came back when the export was imported into a fresh store of the same definition.

const migrations: Migration[] = [{ version: 1, name: 'start', up: async () => undefined }]
const collections = {
  habits: {
    writers: ['app'],
    seed: [
      { id: 'stretch', data: { minutes: 5 } },
      { id: 'walk', data: { minutes: 20 } },
    ],
  },
  notes: { writers: ['app'] },
} as const

describe.each(BACKENDS)('the seed history travels with an export, on $name', (backend) => {
  async function sourceWithDeletedSeed() {
    const source = await (await backend.tempStore())({ role: 'app', collections, migrations })
    await source.collection('habits').delete('stretch')
    await source.collection('habits').patch('walk', { minutes: 30 })
    await source.collection('notes').insert({ text: 'hello' }, { id: 'n1' })
    const file = join(tempDir(), 'export.ndjson')
    await exportStore(source, { to: file })
    return file
  }

  test('a seeded record the user deleted does not come back when the export is imported into a fresh store', async () => {
    const file = await sourceWithDeletedSeed()
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n')
    // The history rides in the file: the migration applied and both seeds, before the records.
    expect(
      lines
        .slice(1, 4)
        .map((l) => JSON.parse(l) as { collection: string; id: string })
        .map((r) => `${r.collection} ${r.id}`),
    ).toEqual(['_migrations 0000000001', '_seeds habits/stretch', '_seeds habits/walk'])

    for (const onConflict of ['overwrite', 'newer-version-wins'] as const) {
      const target = await (await backend.tempStore())({ role: 'app', collections, migrations })
      expect(await target.collection('habits').get('stretch')).toBeDefined() // seeded when it opened
      const result = await importStore(target, { from: file, onConflict })
      expect(await target.collection('habits').get('stretch'), onConflict).toBeUndefined()
      expect((await target.collection('habits').get('walk'))?.data, onConflict).toEqual({ minutes: 30 })
      expect(result.seeds, onConflict).toEqual({ added: 0, removed: 1 })
      // The removal is a change like any other: followers of the target see it (it coalesced the seed's insert).
      const { changes } = await target.backend.readChanges(0, 100)
      expect(
        changes.filter((c) => c.id === 'stretch').map((c) => c.op),
        onConflict,
      ).toEqual(['delete'])
    }
  })

  test('a store that never applied the seeds records them, so opening it later does not bring the deleted one back', async () => {
    const file = await sourceWithDeletedSeed()
    // The same store, declared without seeds first (say, by a tool): nothing seeded yet.
    const open = await backend.tempStore()
    const bare = await open({ role: 'app', collections: { habits: { writers: ['app'] }, notes: { writers: ['app'] } }, migrations })
    const result = await importStore(bare, { from: file, onConflict: 'fail' })
    expect(result.seeds).toEqual({ added: 2, removed: 0 })
    await bare.close()
    const seeded = await open({ role: 'app', collections, migrations })
    expect(await seeded.collection('habits').get('stretch')).toBeUndefined()
    expect((await seeded.collection('habits').get('walk'))?.data).toEqual({ minutes: 30 })
  })

  test('a seeded record changed in the target, or a policy that keeps stored records, is left alone', async () => {
    const file = await sourceWithDeletedSeed()
    const edited = await (await backend.tempStore())({ role: 'app', collections, migrations })
    await edited.collection('habits').patch('stretch', { minutes: 10 })
    await importStore(edited, { from: file, onConflict: 'overwrite' })
    expect((await edited.collection('habits').get('stretch'))?.data).toEqual({ minutes: 10 })

    const skipping = await (await backend.tempStore())({ role: 'app', collections, migrations })
    const result = await importStore(skipping, { from: file, onConflict: 'skip' })
    expect(result.seeds).toEqual({ added: 0, removed: 0 })
    expect(await skipping.collection('habits').get('stretch')).toBeDefined()
  })

  test('a dry run reports the removal and changes nothing', async () => {
    const file = await sourceWithDeletedSeed()
    const target = await (await backend.tempStore())({ role: 'app', collections, migrations })
    const result = await importStore(target, { from: file, onConflict: 'overwrite', dryRun: true })
    expect(result.seeds).toEqual({ added: 0, removed: 1 })
    expect(await target.collection('habits').get('stretch')).toBeDefined()
  })
})
