// The one declaration of the store that the daemon, the API server and the `tandem` CLI share.
// Each collection has exactly one writer role: the user's configuration belongs to the server,
// the activity log to the daemon. Reads are open to every role, so each process reads the other's
// data straight from the store instead of from an in-memory copy of the whole database.
import { join } from 'node:path'
import { defineStore } from 'tandemdb'
import { z } from 'zod'

export const Project = z.object({ name: z.string().min(1), domains: z.array(z.string()) })
export const Calendar = z.object({ projectId: z.string(), url: z.url() })
export const Settings = z.object({ idleMinutes: z.number().int().positive(), theme: z.enum(['light', 'dark']) })
export const Session = z.object({ projectId: z.string().nullable(), app: z.string(), startedAt: z.number(), durationMs: z.number() })

export default defineStore({
  // Your app's data directory; main.ts points APP_DATA_DIR at a fresh folder for each run.
  dataDir: process.env.APP_DATA_DIR ?? join(import.meta.dirname, 'data'),
  path: 'app.db',
  // One live daemon at a time: a second one fails to open with ROLE_TAKEN.
  roles: { daemon: { singleton: true } },
  collections: {
    // User configuration: low write rate, written only by the API server.
    projects: { writers: ['server'], indexes: ['name'], schema: Project },
    calendars: { writers: ['server'], indexes: ['projectId'], schema: Calendar },
    settings: { writers: ['server'], schema: Settings, seed: [{ id: 'general', data: { idleMinutes: 5, theme: 'light' } }] },
    // Activity: high write rate, written only by the daemon.
    sessions: { writers: ['daemon'], indexes: ['projectId', 'startedAt'], schema: Session },
  },
})
