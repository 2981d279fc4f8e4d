// Inserts records into one collection, one after another, from the parent's 'go' until its
// 'stop'. Reports every acknowledged id the moment its insert resolves, then a summary.
import { openStore } from 'tandemdb'
import { command, describeError, failOnCrash, finish, report, workerArgs } from './channel.mjs'

failOnCrash()
const { store: config, collection, fields = {} } = workerArgs()
const store = await openStore(config)
const records = store.collection(collection)
report({ type: 'ready' })
await command('go')

let stopping = false
void command('stop').then(() => (stopping = true))
let acked = 0
let errorCount = 0
const errors = [] // the first few, for the failure message
for (let seq = 0; !stopping; seq++) {
  // Let the event loop turn now and then, so the parent's 'stop' (an IPC message) is read even
  // while inserts resolve without waiting for a lock.
  if (seq % 20 === 0) await new Promise((resolve) => setImmediate(resolve))
  try {
    const record = await records.insert({ ...fields, seq })
    acked++
    report({ type: 'ack', id: record.id })
  } catch (error) {
    errorCount++
    if (errors.length < 5) errors.push(describeError(error))
    if (errors.length >= 5) break
  }
}
await store.close()
report({ type: 'done', acked, errorCount, errors })
finish()
