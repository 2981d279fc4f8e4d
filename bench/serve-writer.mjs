// Writes to the store of bench/serve.mjs from another process (openStore on the same file), one
// insert every `gapMs`, and reports each commit's monotonic time (hrtime, comparable across
// processes) with the record id over IPC: the SSE latency is measured from that moment.
import { openStore } from 'tandemdb'

const [dir, count, gapMs] = process.argv.slice(2)
const store = await openStore({ dataDir: dir, path: 'tandem.db', role: 'writer', collections: { items: { writers: '*' } } })
const items = store.collection('items')
for (let i = 0; i < Number(count); i++) {
  const record = await items.insert({ n: i })
  process.send({ id: record.id, at: process.hrtime.bigint().toString() })
  await new Promise((resolve) => setTimeout(resolve, Number(gapMs)))
}
await store.close()
process.send({ done: true })
