// A process whose wall clock is off: Date.now() is replaced BEFORE tandemdb is imported, so every
// timestamp, ULID and retention cutoff it makes uses the skewed clock (as after a clock step).
// Args: { config, offsetMs }. Commands ({ type: 'cmd', action }):
//   insert { collection, records: [{ data, id? }] } → 'inserted' { ids, createdAt }
//   step { offsetMs }                                → 'stepped' (the clock jumps while running)
//   compact                                          → 'compacted' { result }
//   stop                                             → 'closed'
import { command, describeError, failOnCrash, finish, report, workerArgs } from './channel.mjs'

failOnCrash()
const { config, offsetMs } = workerArgs()
const realNow = Date.now
let offset = offsetMs ?? 0
Date.now = () => realNow() + offset

const { openStore } = await import('tandemdb')
const store = await openStore(config)
report({ type: 'ready', pid: process.pid, now: Date.now() })
for (;;) {
  const cmd = await command('cmd')
  try {
    if (cmd.action === 'stop') break
    if (cmd.action === 'insert') {
      const ids = []
      const createdAt = []
      for (const { data, id } of cmd.records) {
        const record = await store.collection(cmd.collection).insert(data, id === undefined ? undefined : { id })
        ids.push(record.id)
        createdAt.push(record.createdAt)
      }
      report({ type: 'inserted', ids, createdAt })
    } else if (cmd.action === 'step') {
      offset = cmd.offsetMs
      report({ type: 'stepped', now: Date.now() })
    } else if (cmd.action === 'compact') {
      report({ type: 'compacted', result: await store.compact() })
    }
  } catch (error) {
    report({ type: 'failed', action: cmd.action, error: describeError(error) })
  }
}
await store.close()
report({ type: 'closed' })
finish()
