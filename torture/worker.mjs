// One torture client process: opens the store through the public API and runs random transactions
// from `clients` concurrent loops (so group commit batches them) until told to stop or killed.
// Every transaction is logged before it starts ('inv', with its operations) and when it settles
// ('ok' with its results, 'fail' when it certainly changed nothing, 'unk' when it may have). A
// transaction with an 'inv' and no completion was cut short by a kill: its outcome is unknown.
import { clock, openLog } from './log.mjs'
import { createRandom } from './random.mjs'
import { createGenerator, keyWindow } from './generator.mjs'
import { summarize } from './digest.mjs'
import { COLLECTION, EMPTY_RECORD, openTortureStore } from './store.mjs'
import { retrying } from './transient.mjs'

const args = JSON.parse(process.argv[2])
const { name, incarnation, clients, keys, keyShiftMs } = args
const now = clock(args.startNs)
const log = openLog(args.log, { fsync: args.fsync })
log.write({ t: 'start', w: name, inc: incarnation, pid: process.pid, at: now() })

/**
 * Errors after which the write certainly did not happen (docs/guarantees.md: "a write whose promise
 * rejected changed nothing"), plus the two the harness raises itself. Any other error leaves the
 * outcome unknown, which the checker accepts either way.
 */
const DEFINITE = new Set([
  'VERSION_CONFLICT',
  'BUSY_TIMEOUT',
  'NOT_FOUND',
  'DUPLICATE_ID',
  'NOT_OWNER',
  'SCHEMA_INVALID',
  'INVALID_DATA',
  'STORAGE_FAILURE',
  'TORTURE_ABORT',
  'TORTURE_MISSING',
])

class HarnessError extends Error {
  constructor(code, message) {
    super(message)
    this.code = code
  }
}

let stopping = false
process.on('message', (message) => {
  if (message?.type === 'stop') stopping = true
})
// The runner went away: finish like a stop.
process.on('disconnect', () => (stopping = true))
const crash = (error) => {
  log.write({ t: 'crash', at: now(), error: describe(error) })
  process.exit(70)
}
process.on('uncaughtException', crash)
process.on('unhandledRejection', crash)

function describe(error) {
  return { code: error?.code ?? error?.name ?? 'Error', msg: String(error?.message ?? error).slice(0, 300) }
}

// A read logs the record's version and a summary of its data (see digest.mjs), not the whole list.
const observe = (record) => (record === undefined ? null : { v: record.version, ...summarize(record.data) })
const written = (record) => ({ v: record.version })

/** Runs one micro-op on `c` (the store's collection, or a transaction's). `seen` holds this transaction's reads. */
async function apply(c, op, seen) {
  switch (op.f) {
    case 'create':
      return written(await c.insert({ ...EMPTY_RECORD }, { id: op.k }))
    case 'read': {
      const record = await c.get(op.k)
      seen.set(op.k, record)
      return observe(record)
    }
    case 'readAll': {
      const out = {}
      for (const record of await c.find({ where: { $id: { gte: op.lo, lt: op.hi } } })) {
        seen.set(record.id, record)
        out[record.id] = observe(record)
      }
      return out
    }
    case 'append':
      return written(await c.update(op.k, (d) => ({ ...d, l: [...d.l, op.val] })))
    case 'incr':
      return written(await c.update(op.k, (d) => ({ ...d, n: d.n + 1 })))
    case 'patch':
      return written(await c.patch(op.k, { [op.field]: op.val }))
    case 'cas': {
      const s = seen.get(op.k)
      if (s === undefined) throw new HarnessError('TORTURE_MISSING', `${op.k} did not exist when read; nothing to compare-and-set.`)
      return written(await c.replace(op.k, { ...s.data, l: [...s.data.l, op.val] }, { ifVersion: s.version }))
    }
    default:
      throw new Error(`Unknown micro-op ${op.f}`)
  }
}

async function execute(store, txn) {
  const seen = new Map()
  if (txn.kind === 'direct') {
    const kv = store.collection(COLLECTION)
    const res = []
    for (const op of txn.ops) res.push(await apply(kv, op, seen))
    return res
  }
  return store.transaction(async (tx) => {
    const c = tx.collection(COLLECTION)
    const res = []
    for (const op of txn.ops) res.push(await apply(c, op, seen))
    // Every write above must vanish: the checker looks for these values everywhere.
    if (txn.abort) throw new HarnessError('TORTURE_ABORT', 'Deliberate rollback.')
    return res
  })
}

/** Logs, runs and logs the outcome of one transaction. Resolves with 'ok', 'fail' or 'unk'. */
async function run(store, client, txn) {
  log.write({ t: 'inv', id: txn.id, c: client, at: now(), kind: txn.kind, ...(txn.abort ? { abort: true } : {}), ops: txn.ops })
  try {
    const res = await execute(store, txn)
    log.write({ t: 'ok', id: txn.id, at: now(), res })
    return { status: 'ok' }
  } catch (error) {
    const { code, msg } = describe(error)
    const status = DEFINITE.has(code) ? 'fail' : 'unk'
    log.write({ t: status, id: txn.id, at: now(), code, msg })
    return { status, code }
  }
}

// Opening is retried like an application would when a connection is cut under it (PostgreSQL faults).
const store = await retrying(
  () => openTortureStore(args.store, name),
  (error) => log.write({ t: 'retry', what: 'open', ...describe(error), at: now() }),
)
log.write({ t: 'open', at: now() })
const created = new Set()

async function client(c) {
  const random = createRandom(`${args.seed}/${name}/${incarnation}/${c}`)
  const generator = createGenerator(random, `${name}.${incarnation}.${c}.`, { findInTransaction: args.findInTransaction })
  while (!stopping) {
    const txn = generator.next(keyWindow(now() / 1000, keys, keyShiftMs))
    // Records must exist before they can be updated: whoever first needs a key inserts it.
    for (const op of txn.ops) {
      if (op.k === undefined || created.has(op.k)) continue
      const outcome = await run(store, c, generator.create(op.k))
      if (outcome.status === 'ok' || outcome.code === 'DUPLICATE_ID') created.add(op.k)
    }
    await run(store, c, txn)
  }
}

await Promise.all(Array.from({ length: clients }, (_, c) => client(c)))
await store.close()
log.write({ t: 'end', at: now() })
log.close()
process.exit(0)
