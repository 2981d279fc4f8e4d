// The runtime store of a personal-assistant app, declared once: 12 collections, each with a zod
// schema (so every read and write is typed), its writer role, its indexes, default records,
// growth limits, and the migrations that brought older stores up to date. The API server and
// the agents process both open it with `openStore({ ...definition, role })`.
import { join } from 'node:path'
import { defineStore, type Migration } from 'tandemdb'
import { z } from 'zod'

const isoTime = z.iso.datetime()
export const AGENTS = ['notes', 'lecture-plan', 'assignment-tracker', 'orchestrator'] as const
const Agent = z.enum(AGENTS)

export const AgentEvent = z.object({ agent: Agent, kind: z.string(), payload: z.record(z.string(), z.unknown()) })
export const AgentState = z.object({ status: z.enum(['idle', 'running', 'error']), lastEventId: z.string().nullable() })
export const Notification = z.object({
  title: z.string(),
  body: z.string(),
  priority: z.enum(['low', 'medium', 'high']),
  read: z.boolean(),
})
export const ChatMessage = z.object({ author: z.enum(['user', 'assistant']), text: z.string() })
export const JournalEntry = z.object({ text: z.string(), tags: z.array(z.string()), photos: z.array(z.string()) })
export const ScheduleEvent = z.object({ title: z.string(), startsAt: isoTime, recurrence: z.enum(['weekly', 'biweekly']).nullable() })
export const Deadline = z.object({
  course: z.string(),
  task: z.string(),
  dueAt: isoTime,
  priority: z.enum(['low', 'medium', 'high']),
  completed: z.boolean(),
})
export const Habit = z.object({ name: z.string(), cadence: z.enum(['daily', 'weekly']), checkIns: z.array(isoTime) })
export const Goal = z.object({ title: z.string(), target: z.number().positive(), progress: z.number().min(0) })
export const UserContext = z.object({
  stressLevel: z.number().int().min(1).max(5),
  energyLevel: z.number().int().min(1).max(5),
  mode: z.enum(['focus', 'balanced', 'recovery']),
})
export const NotificationPreferences = z.object({
  quietHours: z.object({ start: z.string(), end: z.string() }),
  minPriority: z.enum(['low', 'medium', 'high']),
})
export const SyncOperation = z.object({
  op: z.enum(['create', 'update', 'delete']),
  collection: z.string(),
  recordId: z.string(),
  status: z.enum(['pending', 'done']),
})

/** The schema history of stores created by earlier versions of the app. Run once per store, in order. */
export const migrations: Migration[] = [
  // Version 1 of the app had no photos on journal entries.
  {
    version: 1,
    name: 'journal-photos',
    up: async (m) => {
      await m.backfill('journalEntries', 'photos', () => [])
    },
  },
  // ...and called a deadline's time `due`.
  {
    version: 2,
    name: 'deadline-due-at',
    up: async (m) => {
      await m.renameField('deadlines', 'due', 'dueAt')
    },
  },
]

export const STARTER_HABITS = ['stretch', 'read', 'walk'] as const

export default defineStore({
  // Your app's data directory; main.ts points APP_DATA_DIR at a fresh folder for each run.
  dataDir: process.env.APP_DATA_DIR ?? join(import.meta.dirname, 'data'),
  path: 'companion.db',
  migrations,
  collections: {
    // Written by the agents process. Logs keep the newest records; older ones are archived to
    // NDJSON files (archive/<collection>/<month>.ndjson) before they are deleted.
    agentEvents: { writers: ['agents'], indexes: ['agent'], schema: AgentEvent, retain: { maxCount: 100 } },
    agentStates: {
      writers: ['agents'],
      schema: AgentState,
      seed: AGENTS.map((id) => ({ id, data: { status: 'idle', lastEventId: null } })),
    },
    notifications: { writers: ['agents'], indexes: ['read'], schema: Notification, retain: { maxCount: 40 } },
    scheduleEvents: { writers: ['agents', 'server'], indexes: ['startsAt'], schema: ScheduleEvent, retain: { maxCount: 200 } },
    syncQueue: { writers: ['agents', 'server'], indexes: ['status'], schema: SyncOperation },
    // Written by the API server, on the user's behalf.
    chatMessages: { writers: ['server'], schema: ChatMessage, retain: { maxCount: 500 } },
    journalEntries: { writers: ['server'], schema: JournalEntry, retain: { maxCount: 100 } },
    deadlines: { writers: ['server'], indexes: ['completed', 'dueAt'], schema: Deadline, retain: { maxCount: 200 } },
    habits: {
      writers: ['server'],
      schema: Habit,
      seed: STARTER_HABITS.map((name) => ({ id: name, data: { name, cadence: 'daily', checkIns: [] } })),
    },
    goals: { writers: ['server'], schema: Goal, seed: [{ id: 'sleep', data: { title: 'Sleep 8 hours', target: 8, progress: 0 } }] },
    // One-record collections: the record has a fixed id, seeded once, then only ever patched.
    userContext: {
      writers: ['server', 'agents'],
      schema: UserContext,
      seed: [{ id: 'current', data: { stressLevel: 3, energyLevel: 3, mode: 'balanced' } }],
    },
    notificationPreferences: {
      writers: ['server'],
      schema: NotificationPreferences,
      seed: [{ id: 'default', data: { quietHours: { start: '22:00', end: '07:00' }, minPriority: 'medium' } }],
    },
  },
})
