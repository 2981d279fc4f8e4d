// The project every shell and Python block of the docs runs in (docs-blocks.test.ts,
// python-blocks.test.ts): a tandem.config.json and its store, data/app.db, with a few records.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { openStore } from '../../src/index.js'

/** Written as tandem.config.json in each block's folder. */
export const SHELL_PROJECT = {
  path: 'data/app.db',
  collections: {
    tasks: {
      writers: ['server', 'cli'],
      indexes: ['status'],
      seed: [
        { id: 't-1', data: { title: 'write docs', status: 'open' } },
        { id: 't-2', data: { title: 'check them', status: 'done' } },
      ],
    },
    jobs: {
      writers: ['daemon', 'server'],
      indexes: ['status'],
      seed: [{ id: 'j-1', data: { cmd: 'test', status: 'open' } }],
    },
  },
}

/** Makes `dir` the project: its config, and its store created with the seeds. */
export async function prepareProject(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'tandem.config.json'), `${JSON.stringify(SHELL_PROJECT, null, 2)}\n`)
  const store = await openStore({ ...SHELL_PROJECT, path: join(dir, SHELL_PROJECT.path), roles: { setup: {} }, role: 'setup' })
  await store.close()
}
