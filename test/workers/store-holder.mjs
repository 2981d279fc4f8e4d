// Opens a store with the given config and holds it open (registered, heartbeating) until told to
// stop or killed. On { type: 'cmd', action: 'insert', collection, records } it inserts the
// records one write each and reports 'inserted' with their ids.
import { openStore } from 'tandemdb'
import { command, failOnCrash, finish, report, workerArgs } from './channel.mjs'

failOnCrash()
const { config } = workerArgs()
const store = await openStore(config)
report({ type: 'ready', pid: process.pid })
for (;;) {
  const cmd = await command('cmd')
  if (cmd.action === 'stop') break
  if (cmd.action === 'insert') {
    const ids = []
    for (const data of cmd.records) ids.push((await store.collection(cmd.collection).insert(data)).id)
    report({ type: 'inserted', ids })
  }
}
await store.close()
report({ type: 'closed' })
finish()
