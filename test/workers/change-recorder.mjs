// Follows a store's change feed from `since` and reports every change it gets, in the order it
// gets them: { type: 'change', seq, id, op, writer, n, tag }. Stops after `until` changes, then
// reports { type: 'end', received, listenerConnections } (how often a PostgreSQL LISTEN connection
// came up, when the backend has one).
import { openStore } from 'tandemdb'
import { failOnCrash, finish, report, workerArgs } from './channel.mjs'

failOnCrash()
const { store: config, since = 'beginning', until } = workerArgs()
const store = await openStore(config)
const stream = store.changes({ since })
report({ type: 'ready', head: await store.backend.changeHead() })

let received = 0
for await (const change of stream) {
  const { writer, n, tag } = change.data ?? {}
  report({ type: 'change', seq: change.seq, id: change.id, op: change.op, writer, n, tag })
  if (++received >= until) break
}
const listenerConnections = store.backend.listenerConnections
await store.close()
report({ type: 'end', received, listenerConnections })
finish()
