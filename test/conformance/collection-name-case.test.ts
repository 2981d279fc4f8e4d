import { describe, expect, test } from 'vitest'
import { TandemError } from '../../src/index.js'
import { TARGETS } from '../helpers/backends.js'
import { forkWorker } from '../helpers/processes.js'

// Skipped on remote: tests that read the engine's table list or the store's settings (lacks.engine, test/helpers/backends.ts).
// Issue #16 item 8. SQLite compares table names without regard to case, PostgreSQL (quoted) with
// it: a program declaring "Tasks" on a store where another declared "tasks" shared that
// collection's table on SQLite and got a second, separate one on PostgreSQL. Names that differ only
// in case are refused when the store is opened, on both, whichever process came first.

describe.each(TARGETS)('collection names differing only in case on $name', (backend) => {
  test.skipIf(backend.lacks.engine !== undefined)(
    'a program declaring "Tasks" cannot open a store that has "tasks", and nothing is created',
    async () => {
      const open = await backend.tempStore()
      const first = await open({ role: 'app', collections: { tasks: { writers: '*' } } })
      await first.collection('tasks').insert({ title: 'kept' }, { id: 't1' })
      for (const name of ['Tasks', 'TASKS', 'tAsks']) {
        const error = await open({ role: 'other', collections: { [name]: { writers: '*' }, notes: { writers: '*' } } }).catch(
          (e: unknown) => e,
        )
        expect(error, name).toBeInstanceOf(TandemError)
        expect(error, name).toMatchObject({ code: 'DEFINITION_MISMATCH', collection: name })
        expect((error as Error).message).toMatch(new RegExp(`"${name}" differs only in case from "tasks"`))
      }
      // The refused opens created nothing: not "notes", not a second "Tasks".
      const again = await open({ role: 'reader', collections: { tasks: { writers: '*' } } })
      const names = await again.runRead((tx) => tx.listCollections())
      expect(names.filter((n) => !n.startsWith('_'))).toEqual(['tasks'])
      expect((await again.collection('tasks').find()).map((r) => r.data)).toEqual([{ title: 'kept' }])
    },
  )

  test.skipIf(backend.lacks.engine !== undefined)(
    'the same holds between real processes: a child declaring "tasks" is refused on a store where this process declared "Tasks"',
    async () => {
      const open = await backend.tempStore()
      const first = await open({ role: 'app', collections: { Tasks: { writers: '*' } } })
      await first.collection('Tasks').insert({ n: 1 })
      const location =
        backend.name === 'sqlite'
          ? { dataDir: first.settings.dataDir, path: first.settings.path }
          : backend.name === 'files'
            ? { files: first.settings.files }
            : { url: first.settings.url, postgres: { schema: first.settings.postgres.schema } }
      const child = forkWorker('store-holder.mjs', { config: { ...location, role: 'child', collections: { tasks: { writers: '*' } } } })
      const crash = await child.waitFor((m) => m.type === 'ready' || m.type === 'crash')
      if (crash.type === 'ready') child.send({ type: 'cmd', action: 'stop' })
      expect(crash.type).toBe('crash')
      expect(crash.error).toMatchObject({ code: 'DEFINITION_MISMATCH' })
      expect((crash.error as { message: string }).message).toMatch(/"tasks" differs only in case from "Tasks"/)
      await child.exited
      expect(await first.collection('Tasks').count()).toBe(1)
    },
  )

  test('one config declaring both is refused before anything is opened', async () => {
    const open = await backend.tempStore()
    await expect(open({ role: 'app', collections: { tasks: { writers: '*' }, Tasks: { writers: '*' } } })).rejects.toThrow(
      /differ by more than case/,
    )
  })
})
