// The one declaration of the store. The Node API server writes projects; sessions belong to the
// daemon, a Python program that writes them through `tandem serve` with a token of role "daemon".
// The dashboard (Python too) only reads: its token's role writes nothing.
import { join } from 'node:path'
import { defineStore } from 'tandemdb'
import { z } from 'zod'

export const Project = z.object({ name: z.string().min(1) })
export const Session = z.object({
  projectId: z.string(),
  app: z.string(),
  startedAt: z.number(),
  durationMs: z.number().int().nonnegative(),
})

export default defineStore({
  // Your app's data directory; main.ts points APP_DATA_DIR at a fresh folder for each run.
  dataDir: process.env.APP_DATA_DIR ?? join(import.meta.dirname, 'data'),
  path: 'app.db',
  collections: {
    projects: { writers: ['server'], schema: Project },
    sessions: { writers: ['daemon'], indexes: ['projectId'], schema: Session },
  },
})
