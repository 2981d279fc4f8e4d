// Follows the change feed and reports every change it gets, in the order it gets them.
// mode 'stream': store.changes({ since: 'beginning' }).
// mode 'consumer': a durable consumer named `name` that acks each change after reporting it.
import { failOnCrash, report, workerArgs } from './channel.mjs'
import { openFeedStore } from './feed-store.mjs'

failOnCrash()
const { path, mode, name, until } = workerArgs()
const store = await openFeedStore(path, `follower-${process.pid}`)
const consumer = mode === 'consumer' ? store.consumer(name, { start: 'beginning' }) : undefined
const stream = consumer === undefined ? store.changes({ since: 'beginning' }) : await consumer.changes()
report({ type: 'ready', position: consumer?.position ?? 0 })

for await (const change of stream) {
  report({ type: 'change', seq: change.seq, collection: change.collection, op: change.op })
  if (consumer !== undefined) {
    await consumer.ack(change.seq)
    report({ type: 'acked', seq: change.seq })
  }
  if (change.seq >= until) break
}
await store.close()
report({ type: 'end' })
process.exit(0)
