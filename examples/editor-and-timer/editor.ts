// The session editor's auto-save. It used to save the whole session document (activities
// included) as a JSON blob; a sync function then reconciled the blob with the timer's table and
// deleted timer data it did not know about. Now every auto-save patches the activity's content
// fields, and only those: `patch` merges them into the record as it is at that moment, inside the
// write lock, so fields the timer wrote a millisecond earlier are kept.
import { setTimeout } from 'node:timers/promises'
import { openStore } from 'tandemdb'
import { disconnect, receive, send } from '../shared/child.ts'
import definition, { ACTIVITY_ID } from './store.ts'

export type EditorMessage = { type: 'ready' } | { type: 'done'; saves: number }

const saves = Number(process.env.SAVES ?? 400)
const store = await openStore({ ...definition, role: 'editor' })
const activities = store.collection('activities')

await send<EditorMessage>({ type: 'ready' })
await receive('go')
const started = performance.now()
for (let rev = 1; rev <= saves; rev++) {
  if (rev % 10 === 0) {
    // Adding a set reads the current list: `update` runs its function on the record as it is now,
    // inside the write lock, and the function keeps every other field as it found it.
    await activities.update(ACTIVITY_ID, (a) => ({ ...a, sets: [...a.sets, { reps: 5, weightKg: 60 + rev / 10 }], editorRev: rev }))
  } else {
    // A keystroke's auto-save: the content fields only.
    await activities.patch(ACTIVITY_ID, {
      notes: `felt good, draft ${rev}`,
      title: rev % 2 === 0 ? 'Squats' : 'Back squats',
      editorRev: rev,
    })
  }
  // The user types on: the next auto-save comes a moment later (pacing only; nothing waits on it).
  await setTimeout(Math.random() * 2)
}
console.log(`${saves} auto-saves in ${Math.round(performance.now() - started)} ms`)
await send<EditorMessage>({ type: 'done', saves })
await store.close()
disconnect()
