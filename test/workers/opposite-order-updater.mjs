// Issues `rounds` batches of single-record update()s of the records `ids`, all of a round started
// together (so group commit puts them in one transaction) in the order given, after the parent
// says go. Reports { type: 'done', acked, errors, slowestRoundMs, retries }: errors are the codes
// of the calls that failed.
import { openStore } from 'tandemdb'
import { command, describeError, failOnCrash, finish, report, workerArgs } from './channel.mjs'

failOnCrash()
const { store: config, collection, ids, rounds } = workerArgs()
const store = await openStore(config)
const records = store.collection(collection)
report({ type: 'ready' })
await command('go')

let acked = 0
let slowestRoundMs = 0
const errors = []
for (let r = 0; r < rounds; r++) {
  const started = performance.now()
  const outcomes = await Promise.allSettled(ids.map((id) => records.update(id, (d) => ({ ...d, n: d.n + 1 }))))
  slowestRoundMs = Math.max(slowestRoundMs, performance.now() - started)
  for (const o of outcomes) {
    if (o.status === 'fulfilled') acked++
    else if (errors.length < 20) errors.push(describeError(o.reason))
  }
}
const retries = store.backend.busyStats?.retries ?? 0
await store.close()
report({ type: 'done', acked, errors, slowestRoundMs: Math.round(slowestRoundMs), retries })
finish()
