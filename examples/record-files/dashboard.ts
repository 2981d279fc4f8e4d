// The dashboard: follows the change feed of all three record files (no polling of its own) and
// keeps live counts. Hand edits of the files show up on the feed like any other write.
import { openStore } from 'tandemdb'
import { disconnect, receive, send } from '../shared/child.ts'
import definition from './store.ts'

export type DashboardMessage =
  | { type: 'ready' }
  | { type: 'seen'; seq: number; collection: string; id: string; op: string; role: string }
  | { type: 'done'; lastSeq: number; byRole: Record<string, number> }

const store = await openStore({ ...definition, role: 'dashboard', readOnly: true })
const feed = store.changes({ since: 'beginning' })
await send<DashboardMessage>({ type: 'ready' })
const byRole: Record<string, number> = {}
let lastSeq = 0
let until: number | undefined
void receive<{ type: 'stop'; until: number }>('stop').then((message) => (until = message.until))
for await (const change of feed) {
  lastSeq = change.seq
  byRole[change.role] = (byRole[change.role] ?? 0) + 1
  if (change.role === 'hand-edit')
    await send<DashboardMessage>({
      type: 'seen',
      seq: change.seq,
      collection: change.collection,
      id: change.id,
      op: change.op,
      role: change.role,
    })
  if (until !== undefined && lastSeq >= until) break
}
await send<DashboardMessage>({ type: 'done', lastSeq, byRole })
await store.close()
disconnect()
