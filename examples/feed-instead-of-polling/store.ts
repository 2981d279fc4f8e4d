// The one declaration of the store that the daemon, the API server and the `tandem` CLI share
// (tandem.config.ts re-exports it). Tasks come in through the API or the CLI; the daemon works
// them off and may ask the user a question; the user answers from the CLI.
import { join } from 'node:path'
import { defineStore } from 'tandemdb'
import { z } from 'zod'

export const Task = z.object({ title: z.string().min(1), needsApproval: z.boolean() })
export const Result = z.object({ summary: z.string(), pid: z.number().int() })
export const Notification = z.object({
  taskId: z.string(),
  question: z.string(),
  status: z.enum(['open', 'answered']),
  answer: z.string().optional(),
})
export const Answer = z.object({ notificationId: z.string(), answer: z.string() })
export type Task = z.infer<typeof Task>
export type Notification = z.infer<typeof Notification>
export type Answer = z.infer<typeof Answer>

/** Your app's data directory; main.ts points APP_DATA_DIR at a fresh folder for each run. */
export const dataDir = process.env.APP_DATA_DIR ?? join(import.meta.dirname, 'data')

export default defineStore({
  dataDir,
  path: 'app.db',
  // One live daemon at a time: a second one fails with ROLE_TAKEN; one that crashed is replaced.
  roles: { daemon: { singleton: true } },
  collections: {
    tasks: { writers: ['server', 'cli'], schema: Task },
    // A task's result has the task's id: a task worked twice would fail with DUPLICATE_ID.
    results: { writers: ['daemon'], schema: Result },
    notifications: { writers: ['daemon'], indexes: ['status'], schema: Notification },
    answers: { writers: ['server', 'cli'], schema: Answer },
  },
})
