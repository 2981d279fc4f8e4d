// Writes on command, for the read-cache test. { type: 'do', action: 'write', id, n } sets data.n
// of record `id` with update() and reports { type: 'written', id, n, version } once the update
// resolved (committed and acknowledged); action 'run' with `count` updates the record that many
// times in a row, reporting each acknowledged n as { type: 'acked', n }, then { type: 'ran' };
// action 'stop' closes the store and exits.
import { openStore } from 'tandemdb'
import { command, failOnCrash, finish, report, workerArgs } from './channel.mjs'

failOnCrash()
const { path, collections } = workerArgs()
const store = await openStore({ path, role: 'writer', collections })
const items = store.collection('items')
report({ type: 'ready' })

for (;;) {
  const next = await command('do')
  if (next.action === 'stop') break
  if (next.action === 'write') {
    const record = await items.update(next.id, (d) => ({ ...d, n: next.n }))
    report({ type: 'written', id: next.id, n: next.n, version: record.version })
  } else {
    for (let n = 1; n <= next.count; n++) {
      await items.update(next.id, (d) => ({ ...d, n }))
      report({ type: 'acked', n })
    }
    report({ type: 'ran' })
  }
}
await store.close()
finish()
