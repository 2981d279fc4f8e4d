// Opens a store and keeps it open until told to exit, so the parent can see what a restore does
// to a process that has the store open. { type: 'exec', collection, tag } reports the number of
// records this process reads through its own, still open, connections.
import { openStore } from 'tandemdb'
import { command, failOnCrash, finish, report, workerArgs } from './channel.mjs'

failOnCrash()
const { store: config } = workerArgs()
const store = await openStore(config)
report({ type: 'ready' })
for (;;) {
  const { collection, tag, exit } = await command('exec')
  if (exit) break
  report({ type: 'count', tag, count: await store.collection(collection).count() })
}
await store.close()
report({ type: 'closed' })
finish()
