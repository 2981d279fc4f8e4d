// Inserts { writer, seq } records with seq 1, 2, 3... one at a time from the parent's 'go', and
// reports each acknowledged seq. When a write fails it reports 'write-failed' with the error (once
// per error code) and stops writing once the store says it refuses writes; it then idles until it
// is killed. If the store reports by itself that it stopped accepting writes, it reports
// 'writes-refused'.
import { openStore } from 'tandemdb'
import { command, describeError, failOnCrash, report, workerArgs } from './channel.mjs'

failOnCrash()
const { path, writer } = workerArgs()
const store = await openStore({
  path,
  role: 'writer',
  collections: { items: { writers: '*' } },
  onWritesRefused: (error) => report({ type: 'writes-refused', error: describeError(error) }),
})
const items = store.collection('items')
report({ type: 'ready' })
await command('go')

const seen = new Set()
let seq = 0
let failures = 0
for (;;) {
  if (seq % 20 === 0) await new Promise((resolve) => setImmediate(resolve))
  try {
    await items.insert({ writer, seq: seq + 1 })
    seq++
    report({ type: 'ack', seq })
  } catch (error) {
    failures++
    if (!seen.has(error?.code)) {
      seen.add(error?.code)
      report({ type: 'write-failed', error: describeError(error) })
    }
    if (error?.code === 'STORE_FILES_CHANGED' || failures > 50) break
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}
report({ type: 'stopped', acked: seq })
setInterval(() => undefined, 60_000)
