// Inserts records into one collection, one after another, for `durationMs` after the parent says
// go. Reports every acknowledged id the moment its insert resolves, then a summary.
import { openStore } from 'tandemdb'
import { command, describeError, failOnCrash, finish, report, workerArgs } from './channel.mjs'

failOnCrash()
const { store: config, collection, durationMs, fields = {} } = workerArgs()
const store = await openStore(config)
const records = store.collection(collection)
report({ type: 'ready' })
await command('go')

let acked = 0
let errorCount = 0
const errors = [] // the first few, for the failure message
const until = performance.now() + durationMs
for (let seq = 0; performance.now() < until; seq++) {
  try {
    const record = await records.insert({ ...fields, seq })
    acked++
    report({ type: 'ack', id: record.id })
  } catch (error) {
    errorCount++
    if (errors.length < 5) errors.push(describeError(error))
  }
}
await store.close()
report({ type: 'done', acked, errorCount, errors })
finish()
