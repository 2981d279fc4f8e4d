// Increments data.n of one record with update(), in `loops` concurrent async loops, after the
// parent says go: `count` times in all, or (with `untilStop`) until the parent says stop. Reports
// { type: 'progress', acked } every `progressEvery` acknowledged updates (so the parent sees the
// work move and can stop it at a target), then { type: 'done', acked, errorCount, errors } where
// acked counts the updates whose promise resolved.
import { openStore } from 'tandemdb'
import { command, describeError, failOnCrash, finish, report, workerArgs } from './channel.mjs'

failOnCrash()
const { store: config, collection, id, count, loops = 1, untilStop = false, progressEvery = 100 } = workerArgs()
const store = await openStore(config)
const records = store.collection(collection)
report({ type: 'ready' })
await command('go')

let stopping = false
if (untilStop) void command('stop').then(() => (stopping = true))
let acked = 0
let errorCount = 0
const errors = [] // the first few, for the failure message
async function loop(times) {
  for (let i = 0; i < times && !stopping; i++) {
    try {
      await records.update(id, (d) => ({ ...d, n: d.n + 1 }))
      acked++
      if (acked % progressEvery === 0) report({ type: 'progress', acked })
    } catch (error) {
      errorCount++
      if (errors.length < 5) errors.push(describeError(error))
    }
  }
}
const share = Math.floor((count ?? Infinity) / loops)
await Promise.all(Array.from({ length: loops }, (_, i) => loop(untilStop ? Infinity : i === 0 ? count - share * (loops - 1) : share)))
await store.close()
report({ type: 'done', acked, errorCount, errors })
finish()
