// Inserts `count` records { writer, n } (n = 1..count) into one collection after the parent says
// go, in `loops` concurrent async loops (so the store's write queue batches some of them), pausing
// `pauseMs` after each insert. Reports { type: 'progress', acked } every `progressEvery`
// acknowledged inserts (so the parent sees the work move), then { type: 'done', acked, errorCount, errors }.
import { openStore } from 'tandemdb'
import { command, describeError, failOnCrash, finish, report, workerArgs } from './channel.mjs'

failOnCrash()
const { store: config, collection, writer, count, loops = 1, pauseMs = 0, progressEvery = 50 } = workerArgs()
const store = await openStore(config)
const records = store.collection(collection)
report({ type: 'ready' })
await command('go')

let next = 0
let acked = 0
let errorCount = 0
const errors = [] // the first few, for the failure message
async function loop() {
  while (next < count) {
    const n = ++next
    try {
      await records.insert({ writer, n })
      acked++
      if (acked % progressEvery === 0) report({ type: 'progress', acked })
    } catch (error) {
      errorCount++
      if (errors.length < 5) errors.push(describeError(error))
    }
    if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs))
  }
}
await Promise.all(Array.from({ length: loops }, loop))
await store.close()
report({ type: 'done', acked, errorCount, errors })
finish()
