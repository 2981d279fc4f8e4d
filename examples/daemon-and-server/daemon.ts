// The activity daemon: records a session every few moments, attributed to the newest project.
// It used to load the whole database into memory, reload it every 60 s and write its copy back
// after each insert, erasing projects the server had added meanwhile. Now it writes only its own
// collection and reads the server's projects from the store whenever it needs them.
import { openStore, TandemError } from 'tandemdb'
import { disconnect, receive, send } from '../shared/child.ts'
import definition from './store.ts'

export type DaemonMessage = { type: 'ready' } | { type: 'done'; acked: string[]; refused: string }

const writes = Number(process.env.WRITES ?? 600)
const store = await openStore({ ...definition, role: 'daemon' })
const sessions = store.collection('sessions')
const projects = store.collection('projects')

await send<DaemonMessage>({ type: 'ready' })
await receive('go')
const started = performance.now()
const acked: string[] = []
for (let i = 0; i < writes; i++) {
  // No copy, no reload interval: the newest project is whatever the server committed last.
  const [latest] = await projects.find({ orderBy: '-$id', limit: 1 })
  const session = await sessions.insert({
    projectId: latest?.id ?? null,
    app: i % 2 === 0 ? 'editor' : 'browser',
    startedAt: Date.now(),
    durationMs: 1000 + i,
  })
  acked.push(session.id)
}
console.log(`${acked.length} sessions written in ${Math.round(performance.now() - started)} ms`)

// A write to the server's collection is refused before anything is touched.
let refused = 'accepted'
try {
  await projects.insert({ name: 'written by the daemon', domains: [] })
} catch (error) {
  refused = error instanceof TandemError ? error.code : String(error)
  if (error instanceof TandemError) console.log(`refused as expected: ${error.message}`)
}

await send<DaemonMessage>({ type: 'done', acked, refused })
await store.close()
disconnect()
