// Opens the store with two migrations the moment the parent says go, and reports what happened.
// Each migration leaves one record behind, so a migration that ran twice would show twice.
import { openStore } from 'tandemdb'
import { command, failOnCrash, finish, report, workerArgs } from './channel.mjs'

failOnCrash()
const { path } = workerArgs()
const migrations = [
  {
    version: 1,
    name: 'create-projects',
    up: async (m) => {
      const projects = await m.collection('projects')
      await projects.insert({ by: 'migration 1', pid: process.pid })
      // Widen the race window: a second runner would now be inside this migration too.
      await new Promise((resolve) => setTimeout(resolve, 50))
    },
  },
  {
    version: 2,
    name: 'backfill-owner',
    up: async (m) => {
      await m.backfill('projects', 'owner', () => `pid ${process.pid}`)
      const projects = await m.collection('projects')
      await projects.insert({ by: 'migration 2', pid: process.pid })
    },
  },
]
report({ type: 'ready' })
await command('go')
const store = await openStore({ path, role: 'server', collections: { projects: { writers: ['server'] } }, migrations })
report({ type: 'opened', outcomes: store.migrations.outcomes, storeVersion: store.migrations.storeVersion })
await store.close()
finish()
