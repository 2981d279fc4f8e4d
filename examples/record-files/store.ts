// Three record databases kept as text files in the repository: todos, features and tasks, one
// JSON line per record in records/collections/<name>.jsonl. A driver (an agent working through
// tasks), a CLI (people adding work) and a dashboard (showing it live) all read and write them.
import { join } from 'node:path'
import { defineStore } from 'tandemdb'
import { z } from 'zod'

export const Task = z.object({
  title: z.string(),
  feature: z.string(),
  status: z.enum(['open', 'taken', 'done']),
  takenBy: z.string().nullable(),
})
export type Task = z.infer<typeof Task>

export default defineStore({
  // The folder under version control; main.ts points APP_DATA_DIR at a fresh folder for each run.
  files: { dir: join(process.env.APP_DATA_DIR ?? import.meta.dirname, 'records') },
  collections: {
    features: { writers: ['cli'], schema: z.object({ name: z.string(), goal: z.string() }) },
    tasks: { writers: ['cli', 'driver'], schema: Task },
    todos: { writers: '*', schema: z.object({ text: z.string(), from: z.string() }) },
  },
  // The dashboard only reads: a role every process agrees on, though it owns no collection.
  roles: { dashboard: {} },
})
