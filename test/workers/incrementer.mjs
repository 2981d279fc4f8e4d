// Increments data.n of one record `count` times with update(), in `loops` concurrent async loops
// (or, given `durationMs`, for that long after 'go'). Reports { type: 'done', acked, errors }
// where acked counts the updates whose promise resolved.
import { openStore } from 'tandemdb'
import { command, describeError, failOnCrash, finish, report, workerArgs } from './channel.mjs'

failOnCrash()
const { store: config, collection, id, count, loops = 1, durationMs } = workerArgs()
const store = await openStore(config)
const records = store.collection(collection)
report({ type: 'ready' })
await command('go')

let acked = 0
let errorCount = 0
const errors = [] // the first few, for the failure message
let deadline = Infinity
async function loop(times) {
  for (let i = 0; i < times && performance.now() < deadline; i++) {
    try {
      await records.update(id, (d) => ({ ...d, n: d.n + 1 }))
      acked++
    } catch (error) {
      errorCount++
      if (errors.length < 5) errors.push(describeError(error))
    }
  }
}
if (durationMs !== undefined) deadline = performance.now() + durationMs
const share = Math.floor((count ?? Infinity) / loops)
await Promise.all(Array.from({ length: loops }, (_, i) => loop(durationMs !== undefined ? Infinity : i === 0 ? count - share * (loops - 1) : share)))
await store.close()
report({ type: 'done', acked, errorCount, errors })
finish()
