// The timer API: start and stop the activity's timer. It writes the time fields of the same
// record the editor saves, and nothing else; stopping adds the interval to `elapsedMs`, read from
// the record inside the write lock (`update`), so no start or stop is lost either.
import { setTimeout } from 'node:timers/promises'
import { openStore } from 'tandemdb'
import { disconnect, receive, send } from '../shared/child.ts'
import definition, { ACTIVITY_ID } from './store.ts'

export type TimerMessage = { type: 'ready' } | { type: 'done'; writes: number; elapsedMs: number } | { type: 'ticked'; version: number }

const writes = Number(process.env.SAVES ?? 400)
const store = await openStore({ ...definition, role: 'timer' })
const activities = store.collection('activities')

// POST /timers/:id/start and POST /timers/:id/stop
const api = {
  start: (rev: number) => activities.patch(ACTIVITY_ID, { timeStart: Date.now(), timeStop: null, timerRev: rev }),
  stop: (rev: number) =>
    activities.update(ACTIVITY_ID, (a) => {
      const now = Date.now()
      return { ...a, timeStop: now, elapsedMs: a.elapsedMs + (now - (a.timeStart ?? now)), timerRev: rev }
    }),
}

await send<TimerMessage>({ type: 'ready' })
await receive('go')
const started = performance.now()
let last = await api.start(1)
for (let rev = 2; rev <= writes; rev++) {
  // The next request arrives a moment later (pacing only; nothing waits on it).
  await setTimeout(Math.random() * 2)
  last = rev % 2 === 0 ? await api.stop(rev) : await api.start(rev)
}
console.log(`${writes} timer starts and stops in ${Math.round(performance.now() - started)} ms`)
await send<TimerMessage>({ type: 'done', writes, elapsedMs: last.data.elapsedMs })

// One more stop when main.ts asks for it, to show what a stale whole-document save would do.
await receive('tick')
const ticked = await api.stop(writes + 1)
await send<TimerMessage>({ type: 'ticked', version: ticked.version })
await store.close()
disconnect()
