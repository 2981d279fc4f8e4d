// The change-feed follower: a durable consumer that logs every change it is handed, in order,
// and acknowledges its position every few changes. Killed and restarted like the workers, it must
// resume right after its last acknowledged seq: no gap, and no repeat of anything acknowledged.
// Told to drain to a seq (by message, or in its arguments when started for the end of the run),
// it stops once it has logged and acknowledged that seq.
//
// A stream (or an ack) that fails for a passing reason — PostgreSQL connections terminated under
// it — is opened again from the consumer's stored position, as an application would; each such
// resume is logged ('interrupted', then a new 'start') and checked like a restart.
import { clock, openLog } from './log.mjs'
import { summarize } from './digest.mjs'
import { openTortureStore } from './store.mjs'
import { TRANSIENT, retrying } from './transient.mjs'

const args = JSON.parse(process.argv[2])
const now = clock(args.startNs)
const log = openLog(args.log, { fsync: args.fsync })
log.write({ t: 'boot', w: args.name, inc: args.incarnation, pid: process.pid, at: now() })
const describe = (error) => ({ code: error?.code ?? error?.name, msg: String(error?.message ?? error).slice(0, 300) })
const crash = (error) => {
  log.write({ t: 'crash', at: now(), error: describe(error) })
  process.exit(70)
}
process.on('uncaughtException', crash)
process.on('unhandledRejection', crash)

/**
 * What the checks need of a change, and no more: seq, collection, id, op, version, and the data as a
 * summary (digest.mjs: list length, last value, list hash, counter, fields) together with the
 * version that data is of (`dv`). The checker compares the data only with the state of version
 * `dv`; the feed checks themselves (seqs, ids, versions, ops) never depend on it. Today a change
 * carries the data of exactly its version (docs/changes.md: "the data after the write"). A feed
 * that hands out the record's latest data instead must say which version that is: a change that
 * names it (`dataVersion`) is logged with it, one that says its data is newer without naming the
 * version (`superseded`) is logged without data, so it is never compared with the wrong state.
 */
function changeEntry(change) {
  const entry = { t: 'ch', seq: change.seq, c: change.collection, id: change.id, op: change.op, v: change.version }
  if (change.data === undefined || change.superseded === true) return entry
  const dataVersion = typeof change.dataVersion === 'number' ? change.dataVersion : change.version
  const s = summarize(change.data)
  entry.d = [s.len, s.last, s.h, s.n, s.a, s.b]
  if (dataVersion !== change.version) entry.dv = dataVersion
  return entry
}

const ACK_EVERY_CHANGES = 50
const ACK_EVERY_MS = 100
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
// An ack is idempotent; CONSUMER_LOST is not transient and ends the follower as a crash.
const retry = (what, attempt) => retrying(attempt, (error) => log.write({ t: 'retry', what, ...describe(error), at: now() }))

let target = args.drainTo
let stream
let last = 0
let acked = 0
let ackedAt = Date.now()
let stopping = false

async function ack(consumer) {
  if (last <= acked) return
  const seq = last
  await retry('ack', () => consumer.ack(seq))
  acked = Math.max(acked, seq)
  ackedAt = Date.now()
  log.write({ t: 'ack', seq, at: now() })
}

// Closing the stream (or leaving the for-await loop) releases the consumer's lease, after which
// ack() fails with CONSUMER_LOST: always acknowledge first.
let consumer
const finish = () => void ack(consumer).then(() => ((stopping = true), stream?.close()), crash)
process.on('message', (message) => {
  if (message?.type !== 'drain') return
  target = message.head
  if (last >= target) finish()
})
process.on('disconnect', finish)

const store = await retry('open', () => openTortureStore(args.store, args.name))
consumer = store.consumer('torture-follower', { start: 'beginning', wait: true })
while (!stopping) {
  stream = await retry('changes', () => consumer.changes())
  last = acked = consumer.position ?? 0
  log.write({ t: 'start', inc: args.incarnation, position: last, at: now() })
  if (target !== undefined && last >= target) break
  try {
    for await (const change of stream) {
      log.write(changeEntry(change))
      last = change.seq
      const drained = target !== undefined && last >= target
      if (drained || last - acked >= ACK_EVERY_CHANGES || Date.now() - ackedAt >= ACK_EVERY_MS) await ack(consumer)
      if (drained) {
        stopping = true
        break
      }
    }
    stopping = true // The stream ended: closed by finish(), or the store closed.
  } catch (error) {
    if (!TRANSIENT.has(error?.code)) throw error
    log.write({ t: 'interrupted', ...describe(error), at: now() })
    await sleep(20)
  }
}
await consumer.close()
await store.close()
log.write({ t: 'end', last, at: now() })
log.close()
process.exit(0)
