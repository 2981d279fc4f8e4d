// Writes as fast as it can until it is killed: inserts records and, every few inserts, increments
// a shared counter. Each write is reported the moment its promise resolves, and the next one
// starts only after that, so at most one write is ever committed without its report.
import { openStore } from 'tandemdb'
import { failOnCrash, report, workerArgs } from './channel.mjs'

failOnCrash()
const { store: config, collection, counterCollection, counterId, writer, incrementEvery } = workerArgs()
const store = await openStore(config)
const records = store.collection(collection)
const counters = store.collection(counterCollection)

for (let seq = 0; ; seq++) {
  const record = await records.insert({ writer, seq, payload: 'x'.repeat(seq % 200) })
  report({ type: 'ack', kind: 'insert', id: record.id, seq })
  if (seq % incrementEvery === 0) {
    await counters.update(counterId, (d) => ({ ...d, n: d.n + 1 }))
    report({ type: 'ack', kind: 'increment' })
  }
}
