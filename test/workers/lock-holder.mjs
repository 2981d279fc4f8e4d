// Opens the store as role "daemon" and, on 'hold', starts a write transaction that never ends:
// it holds the store's write lock until the process is killed (the parent may SIGSTOP it too).
import { openStore } from 'tandemdb'
import { command, failOnCrash, report, workerArgs } from './channel.mjs'

failOnCrash()
const { path } = workerArgs()
const store = await openStore({ path, role: 'daemon', collections: { notes: { writers: ['daemon'] } } })
report({ type: 'ready', pid: process.pid })
await command('hold')
void store.transaction(async (tx) => {
  await tx.collection('notes').insert({ text: 'in a transaction that never ends' })
  report({ type: 'holding' })
  await new Promise(() => undefined)
})
setInterval(() => undefined, 60_000)
