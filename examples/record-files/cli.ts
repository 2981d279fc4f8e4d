// The CLI people use: each round adds a feature and its tasks, as `records add-feature` would.
// Writes go through the store, so they never interleave with the driver's or a person's edits.
import { setTimeout } from 'node:timers/promises'
import { openStore } from 'tandemdb'
import { disconnect, receive, send } from '../shared/child.ts'
import definition from './store.ts'

export type CliMessage = { type: 'ready' } | { type: 'done'; features: number; tasks: number }

const FEATURES = Number(process.env.FEATURES ?? 8)
const TASKS_EACH = 5
const store = await openStore({ ...definition, role: 'cli' })
await send<CliMessage>({ type: 'ready' })
await receive('go')
for (let f = 1; f <= FEATURES; f++) {
  const feature = `feature-${f}`
  await store.transaction(async (tx) => {
    await tx.collection('features').insert({ name: `Feature ${f}`, goal: `ship part ${f}` }, { id: feature })
    for (let t = 1; t <= TASKS_EACH; t++) {
      await tx
        .collection('tasks')
        .insert({ title: `task ${t} of ${feature}`, feature, status: 'open', takenBy: null }, { id: `${feature}-task-${t}` })
    }
  })
  await store.collection('todos').insert({ text: `review ${feature}`, from: 'cli' })
  await setTimeout(Math.random() * 20)
}
await send<CliMessage>({ type: 'done', features: FEATURES, tasks: FEATURES * TASKS_EACH })
await store.close()
disconnect()
