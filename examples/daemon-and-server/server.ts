// The API server: handles the user's edits to projects, calendars and settings. It used to keep
// its own in-memory copy of the database too, so a project it saved could be overwritten by the
// daemon's older copy. Here each request is one write of its own collections, committed before it
// is answered; the handlers are called in a loop instead of over HTTP to keep the example short.
import { openStore, TandemError } from 'tandemdb'
import { disconnect, receive, send } from '../shared/child.ts'
import definition from './store.ts'

export type ServerMessage =
  { type: 'ready' } | { type: 'done'; projects: string[]; calendars: string[]; settingsWrites: number; refused: string }

const writes = Number(process.env.WRITES ?? 600)
const store = await openStore({ ...definition, role: 'server' })
const projects = store.collection('projects')
const calendars = store.collection('calendars')
const settings = store.collection('settings')

// POST /projects, POST /calendars, PATCH /settings
const api = {
  createProject: async (name: string) => (await projects.insert({ name, domains: [`${name}.example.com`] })).id,
  addCalendar: async (projectId: string) =>
    (await calendars.insert({ projectId, url: `https://calendar.example.com/${projectId}.ics` })).id,
  setIdleMinutes: async (idleMinutes: number) => void (await settings.patch('general', { idleMinutes })),
}

await send<ServerMessage>({ type: 'ready' })
await receive('go')
const started = performance.now()
const acked = { projects: [] as string[], calendars: [] as string[] }
let settingsWrites = 0
for (let i = 0; acked.projects.length + acked.calendars.length + settingsWrites < writes; i++) {
  const projectId = await api.createProject(`project-${i}`)
  acked.projects.push(projectId)
  if (i % 5 === 4) acked.calendars.push(await api.addCalendar(projectId))
  if (i % 50 === 49) {
    await api.setIdleMinutes(5 + (i % 7))
    settingsWrites++
  }
}
console.log(
  `${acked.projects.length} projects, ${acked.calendars.length} calendars and ${settingsWrites} settings changes written in ${Math.round(performance.now() - started)} ms`,
)

// A write to the daemon's collection is refused before anything is touched.
let refused = 'accepted'
try {
  await store.collection('sessions').insert({ projectId: null, app: 'server', startedAt: Date.now(), durationMs: 0 })
} catch (error) {
  refused = error instanceof TandemError ? error.code : String(error)
  if (error instanceof TandemError) console.log(`refused as expected: ${error.message}`)
}

await send<ServerMessage>({ type: 'done', ...acked, settingsWrites, refused })
await store.close()
disconnect()
