// Inserts { writer, seq } records with seq 1, 2, 3... one at a time (each waits for the previous
// to be acknowledged) from the parent's 'go' until its 'stop'. Reports each acknowledged seq.
import { openStore } from 'tandemdb'
import { command, describeError, failOnCrash, finish, report, workerArgs } from './channel.mjs'

failOnCrash()
const { store: config, collection, writer, padding = '' } = workerArgs()
const store = await openStore(config)
const records = store.collection(collection)
report({ type: 'ready' })
await command('go')

let stopping = false
void command('stop').then(() => (stopping = true))
let seq = 0
const errors = []
while (!stopping) {
  // An uncontended insert resolves through microtasks alone: let the event loop turn now and
  // then, or the parent's 'stop' (an IPC message) would wait for the next lock contention.
  if (seq % 20 === 0) await new Promise((resolve) => setImmediate(resolve))
  try {
    await records.insert({ writer, seq: seq + 1, padding })
    seq++
    report({ type: 'ack', seq })
  } catch (error) {
    if (errors.length < 5) errors.push(describeError(error))
    if (errors.length >= 5) break
  }
}
await store.close()
report({ type: 'done', acked: seq, errors })
finish()
