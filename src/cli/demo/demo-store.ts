import { openStore } from '../../open/open-store.js'
import type { Store } from '../../store/store.js'

/** The demo's collections: each role owns its data, notifications are shared. */
export const DEMO_COLLECTIONS = {
  sessions: { writers: ['daemon'], indexes: ['projectId'] },
  projects: { writers: ['server'], indexes: ['name'] },
  notifications: { writers: '*' },
  counters: { writers: '*' },
} as const

export type DemoStore = Store<typeof DEMO_COLLECTIONS>

export const SHARED_COUNTER = 'writes'

/** The demo's roles: the two writers, and the CLI that reads. */
export type DemoRole = 'daemon' | 'server' | 'cli'

export function openDemoStore(path: string, role: DemoRole): Promise<DemoStore> {
  return openStore({ path, role, collections: DEMO_COLLECTIONS, roles: { cli: {} } })
}
