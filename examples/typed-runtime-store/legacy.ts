// Version 1 of the app, still running on a user's machine: journal entries without photos,
// deadlines with `due` instead of `dueAt`, no migrations. It leaves a store behind for the
// current version (store.ts) to open and migrate.
import { openStore } from 'tandemdb'
import { disconnect, send } from '../shared/child.ts'
import definition from './store.ts'

export type LegacyMessage = { type: 'done'; journalEntries: number; deadlines: number }

// What version 1 declared: two collections, no schemas, no migrations.
const store = await openStore({
  ...definition,
  role: 'server',
  migrations: [],
  collections: { journalEntries: { writers: ['server'] }, deadlines: { writers: ['server'] } },
})
const journal = await store
  .collection('journalEntries')
  .insertMany(Array.from({ length: 30 }, (_, i) => ({ text: `Old entry ${i}`, tags: i % 3 === 0 ? ['study'] : [] })))
const deadlines = await store.collection('deadlines').insertMany(
  Array.from({ length: 12 }, (_, i) => ({
    course: `CS${100 + i}`,
    task: `Problem set ${i}`,
    due: new Date(Date.UTC(2026, 0, 10 + i)).toISOString(),
    priority: 'medium',
    completed: i < 4,
  })),
)
await store.close()
await send<LegacyMessage>({ type: 'done', journalEntries: journal.length, deadlines: deadlines.length })
disconnect()
