// Opens a store with { readOnly: true } (or read-write with `readWrite: true`), counts the records
// of `collection`, lists the live processes, tries one insert, and reports what happened:
// { type: 'result', opened, count, processes, write, openMs } or the error that stopped the open.
// With `uid` (when run as root) it first drops to that user and group, so file modes apply to it.
import { command, describeError, failOnCrash, finish, report, workerArgs } from './channel.mjs'

failOnCrash()
const { path, collection = 'notes', uid, readWrite = false, busyTimeoutMs } = workerArgs()
if (uid !== undefined && process.getuid?.() === 0) {
  process.setgid(uid)
  process.setuid(uid)
}
const { openStore } = await import('tandemdb')
report({ type: 'ready' })
await command('go')
const started = performance.now()
let store
try {
  store = await openStore({
    path,
    role: 'reader',
    collections: { [collection]: { writers: '*' } },
    ...(readWrite ? {} : { readOnly: true }),
    ...(busyTimeoutMs === undefined ? {} : { busyTimeoutMs }),
  })
} catch (error) {
  report({ type: 'result', opened: false, error: describeError(error), openMs: performance.now() - started })
  finish()
}
const openMs = performance.now() - started
const outcome = { type: 'result', opened: true, openMs }
try {
  outcome.count = await store.collection(collection).count()
  outcome.processes = (await store.processes()).map((p) => ({ pid: p.pid, role: p.role }))
  outcome.location = (await store.backend.storageInfo?.())?.location
} catch (error) {
  outcome.readError = describeError(error)
}
try {
  await store.collection(collection).insert({ text: 'from a reader' })
  outcome.write = 'written'
} catch (error) {
  outcome.write = describeError(error)
}
try {
  await store.close()
} catch (error) {
  outcome.closeError = describeError(error)
}
report(outcome)
finish()
