// The API server of the current version: chat, journal, deadlines, habits, the user's context.
// Every collection it touches is typed from its zod schema; a write the schema refuses fails
// with SCHEMA_INVALID at run time, and most of them already fail to compile.
import { openStore, TandemError, type MigrationOutcome } from 'tandemdb'
import { disconnect, receive, send } from '../shared/child.ts'
import definition from './store.ts'

export type ServerMessage =
  { type: 'ready'; migrations: MigrationOutcome[] } | { type: 'done'; chatMessages: string[]; journalEntries: number; refused: string }

const CHAT = Number(process.env.CHAT_MESSAGES ?? 700)
const store = await openStore({ ...definition, role: 'server' })
await send<ServerMessage>({ type: 'ready', migrations: store.migrations.outcomes })
await receive('go')

const chat = store.collection('chatMessages')
const journal = store.collection('journalEntries')
const chatMessages: string[] = []
for (let i = 0; i < CHAT; i++) {
  const message = await chat.insert({ author: i % 2 === 0 ? 'user' : 'assistant', text: `message ${i}` })
  chatMessages.push(message.id)
  if (i % 25 === 0) {
    const entry = await journal.insert({ text: `Today ${i}`, tags: ['daily'], photos: [`data:image/png;base64,${i}`] })
    await store.collection('syncQueue').insert({ op: 'create', collection: 'journalEntries', recordId: entry.id, status: 'pending' })
  }
}
const deadlines = store.collection('deadlines')
for (let i = 0; i < 20; i++)
  await deadlines.insert({
    course: 'MATH201',
    task: `Quiz ${i}`,
    dueAt: new Date(Date.UTC(2026, 1, 1 + i)).toISOString(),
    priority: i % 4 === 0 ? 'high' : 'low',
    completed: false,
  })

// The user's own changes to seeded defaults: seeds never overwrite them, nor bring back a deleted one.
await store.collection('habits').update('read', (habit) => ({ ...habit, checkIns: [...habit.checkIns, new Date().toISOString()] }))
await store.collection('habits').delete('stretch')
await store.collection('goals').patch('sleep', { progress: 6.5 })
await store.collection('userContext').patch('current', { stressLevel: 4, mode: 'focus' })
await store.collection('notificationPreferences').patch('default', { minPriority: 'high' })

// Types and schema agree: this does not compile, and at run time the schema refuses it.
let refused = 'accepted'
try {
  // @ts-expect-error -- stressLevel is a number from 1 to 5
  await store.collection('userContext').patch('current', { stressLevel: 'very high' })
} catch (error) {
  refused = error instanceof TandemError ? error.code : String(error)
}

await send<ServerMessage>({ type: 'done', chatMessages, journalEntries: await journal.count(), refused })
await store.close()
disconnect()
