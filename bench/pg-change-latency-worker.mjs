// The subscriber process of the PostgreSQL change-delivery benchmark. argv: JSON { method, schema,
// channel, count }. 'tandem': store.changes() on a PostgreSQL store (LISTEN wake-up, then a read of
// the change log); 'raw': a node-postgres connection LISTENing on a channel, the payload being the
// change itself. Records the clock when each change arrives.
import { openPgTandem, rawClient } from './pg-lib.mjs'

const { method, schema, channel, count } = JSON.parse(process.argv[2])
const now = () => performance.timeOrigin + performance.now()
const arrivals = new Map()
const send = (m) => process.send(m)

async function tandem() {
  const store = await openPgTandem(schema, { role: 'subscriber' })
  const feed = store.changes({ collections: ['items'] })
  // The first read of the feed starts the LISTEN connection; a first change proves it is up.
  const iterator = feed[Symbol.asyncIterator]()
  send({ type: 'ready' })
  for (;;) {
    const { value: change, done } = await iterator.next()
    if (done) break
    if (change.data.i >= 0) arrivals.set(change.data.i, now())
    if (arrivals.size === count) break
  }
  feed.close()
  await store.close()
}

async function raw() {
  const client = await rawClient('tandem-bench-raw-listen')
  let finished
  const all = new Promise((resolve) => (finished = resolve))
  client.on('notification', (message) => {
    const i = Number(message.payload)
    if (i >= 0) arrivals.set(i, now())
    if (arrivals.size === count) finished()
  })
  await client.query(`LISTEN "${channel}"`)
  send({ type: 'ready' })
  await all
  await client.end()
}

await (method === 'tandem' ? tandem() : raw())
send({ type: 'done', arrivals: [...arrivals.entries()] })
process.disconnect()
