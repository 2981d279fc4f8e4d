// Increments data.n of one record with update(), one write at a time, until it is killed: each
// write is reported ({ type: 'ack', version, n }) the moment its promise resolves, and the next
// starts only after that, so at most one committed write is ever without its report.
import { openStore } from 'tandemdb'
import { failOnCrash, report, workerArgs } from './channel.mjs'

failOnCrash()
const { store: config, collection, id } = workerArgs()
const store = await openStore(config)
const records = store.collection(collection)
for (;;) {
  const record = await records.update(id, (d) => ({ ...d, n: d.n + 1 }))
  report({ type: 'ack', version: record.version, n: record.data.n })
}
