// Increments data.n of one record `count` times with update(), in `loops` concurrent async loops.
// Reports { type: 'done', acked, errors } where acked counts the updates whose promise resolved.
import { openStore } from 'tandemdb'
import { command, describeError, failOnCrash, finish, report, workerArgs } from './channel.mjs'

failOnCrash()
const { store: config, collection, id, count, loops = 1 } = workerArgs()
const store = await openStore(config)
const records = store.collection(collection)
report({ type: 'ready' })
await command('go')

let acked = 0
let errorCount = 0
const errors = [] // the first few, for the failure message
async function loop(times) {
  for (let i = 0; i < times; i++) {
    try {
      await records.update(id, (d) => ({ ...d, n: d.n + 1 }))
      acked++
    } catch (error) {
      errorCount++
      if (errors.length < 5) errors.push(describeError(error))
    }
  }
}
const share = Math.floor(count / loops)
await Promise.all(Array.from({ length: loops }, (_, i) => loop(i === 0 ? count - share * (loops - 1) : share)))
await store.close()
report({ type: 'done', acked, errorCount, errors })
finish()
