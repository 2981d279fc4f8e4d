// The agents process: four agents log events, keep their state, raise notifications and plan
// the schedule. The logs grow without bound unless trimmed; the store trims them to the limits
// declared in store.ts, archiving what it drops.
import { openStore, type MigrationOutcome } from 'tandemdb'
import { disconnect, receive, send } from '../shared/child.ts'
import definition, { AGENTS } from './store.ts'

export type AgentsMessage =
  { type: 'ready'; migrations: MigrationOutcome[] } | { type: 'done'; agentEvents: string[]; notifications: string[] }

const EVENTS = Number(process.env.AGENT_EVENTS ?? 300)
const store = await openStore({ ...definition, role: 'agents' })
await send<AgentsMessage>({ type: 'ready', migrations: store.migrations.outcomes })
await receive('go')

const events = store.collection('agentEvents')
const states = store.collection('agentStates')
const agentEvents: string[] = []
const notifications: string[] = []
for (let i = 0; i < EVENTS; i++) {
  const agent = AGENTS[i % AGENTS.length]!
  const event = await events.insert({ agent, kind: i % 7 === 0 ? 'plan' : 'observation', payload: { step: i } })
  agentEvents.push(event.id)
  if (i % 10 === 0) await states.patch(agent, { status: 'running', lastEventId: event.id })
  if (i % 3 === 0) {
    const priority = i % 9 === 0 ? 'high' : 'medium'
    notifications.push(
      (await store.collection('notifications').insert({ title: `${agent} needs you`, body: `step ${i}`, priority, read: false })).id,
    )
  }
  if (i % 6 === 0)
    await store.collection('scheduleEvents').insert({
      title: `Lecture ${i}`,
      startsAt: new Date(Date.UTC(2026, 2, 1, 9) + i * 3_600_000).toISOString(),
      recurrence: i % 12 === 0 ? 'weekly' : null,
    })
}
for (const agent of AGENTS) await states.patch(agent, { status: 'idle' })

await send<AgentsMessage>({ type: 'done', agentEvents, notifications })
await store.close()
disconnect()
