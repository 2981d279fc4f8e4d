/**
 * One process of the demo: writes its own collection and the shared ones as fast as it can, and
 * reports every acknowledged write to the parent, which later checks each one is in the store.
 * Started by `tandem demo` with fork(); argv: <store path> <role>.
 */
import { SHARED_COUNTER, openDemoStore, type DemoRole } from './demo-store.js'

export type WorkerMessage =
  { type: 'ready' } | { type: 'acked'; collection: string; id: string } | { type: 'incremented' } | { type: 'stopped' }

const [path, role] = process.argv.slice(2)
if (path === undefined || role === undefined) throw new Error('usage: demo-worker <store path> <role>')
const send = (message: WorkerMessage) => process.send?.(message)

const store = await openDemoStore(path, role as DemoRole)
let running = true
process.on('message', (message) => {
  if (message === 'stop') running = false
})
send({ type: 'ready' })

const own = role === 'daemon' ? 'sessions' : 'projects'
let i = 0
while (running) {
  i++
  const record =
    own === 'sessions'
      ? await store.collection('sessions').insert({ projectId: `p${i % 7}`, startedAt: Date.now(), pid: process.pid })
      : await store.collection('projects').insert({ name: `project-${process.pid}-${i}`, pid: process.pid })
  send({ type: 'acked', collection: own, id: record.id })
  if (i % 5 === 0) {
    const note = await store.collection('notifications').insert({ from: role, text: `${role} wrote ${i} records` })
    send({ type: 'acked', collection: 'notifications', id: note.id })
  }
  await store.collection('counters').update(SHARED_COUNTER, (d) => ({ n: Number(d.n) + 1 }))
  send({ type: 'incremented' })
  // A real daemon does other work between writes; this keeps the demo watchable on 2 cores.
  await new Promise((resolve) => setTimeout(resolve, 1))
}
await store.close()
send({ type: 'stopped' })
process.disconnect?.()
