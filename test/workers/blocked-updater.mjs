// Calls update(id, n + 1) while another process is inside its own update of the same record.
// Reports 'waiting' as soon as its write has found the store locked at least once (so the parent
// knows it is really contending, not merely started), then the record its update returned.
import { openStore } from 'tandemdb'
import { command, describeError, failOnCrash, finish, report, workerArgs } from './channel.mjs'

failOnCrash()
const { store: config, collection, id } = workerArgs()
const store = await openStore(config)
const records = store.collection(collection)
const stats = store.backend.busyStats
report({ type: 'ready' })
await command('go')

const before = stats.retries
const watch = setInterval(() => {
  if (stats.retries > before) {
    clearInterval(watch)
    report({ type: 'waiting', retries: stats.retries - before })
  }
}, 1)
try {
  const record = await records.update(id, (d) => ({ ...d, n: d.n + 1 }))
  report({ type: 'updated', record, retries: stats.retries - before })
} catch (error) {
  report({ type: 'updated', error: describeError(error) })
} finally {
  clearInterval(watch)
}
await store.close()
finish()
