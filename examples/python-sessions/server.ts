// The API server, in Node: owns the projects, reads the sessions the Python daemon writes, and
// keeps a per-project total of time up to date from the change feed, as an API endpoint would
// serve it, without polling. It tells main.ts each session it heard of.
import { openStore } from 'tandemdb'
import { disconnect, receive, send } from '../shared/child.ts'
import definition from './store.ts'

export type ServerMessage =
  | { type: 'ready'; projects: string[] }
  | { type: 'heard'; id: string; version: number; seq: number }
  | { type: 'done'; totals: Record<string, number>; fresh: Record<string, number> }

const store = await openStore({ ...definition, role: 'server' })
const projects = store.collection('projects')
const sessions = store.collection('sessions')
const made = []
for (const name of ['alpha', 'beta', 'gamma']) made.push((await projects.insert({ name })).id)

// GET /totals: minutes per project, kept from the feed. A session's change carries its data.
const totals: Record<string, number> = {}
const counted = new Map<string, number>()
const stop = sessions.watch(
  (change) => {
    void send<ServerMessage>({ type: 'heard', id: change.id, version: change.version, seq: change.seq })
    if (change.op !== 'update' || change.data === undefined) return
    const previous = counted.get(change.id) ?? 0
    counted.set(change.id, change.data.durationMs)
    totals[change.data.projectId] = (totals[change.data.projectId] ?? 0) + change.data.durationMs - previous
  },
  { since: 'beginning' },
)
await send<ServerMessage>({ type: 'ready', projects: made })

await receive('stop')
stop()
// The same totals computed from the records themselves, read from the store now.
const fresh: Record<string, number> = {}
for (const s of await sessions.find()) fresh[s.data.projectId] = (fresh[s.data.projectId] ?? 0) + s.data.durationMs
await send<ServerMessage>({ type: 'done', totals, fresh })
await store.close()
disconnect()
