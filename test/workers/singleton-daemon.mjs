// A process of the singleton role "daemon" for the issue-16 liveness tests. Its arguments can make
// it look like another machine (`host`: os.hostname() answers that name) or step its wall clock
// (`clockOffsetMs`: Date.now() and new Date() run that far ahead), and set the registry's stale
// window (`staleAfterMs`, through TANDEM_STALE_AFTER_MS). On 'go' it opens the store and reports
// 'holder' or 'refused'; on 'write' it inserts one record and reports 'wrote' or 'write-failed';
// if the store reports that it stopped accepting writes by itself, it reports 'writes-refused'.
import { syncBuiltinESMExports } from 'node:module'
import os from 'node:os'
import { command, describeError, failOnCrash, finish, report, workerArgs } from './channel.mjs'

failOnCrash()
const { path, host, clockOffsetMs = 0, staleAfterMs } = workerArgs()
if (host !== undefined) {
  os.hostname = () => host
  syncBuiltinESMExports()
}
if (clockOffsetMs !== 0) {
  const RealDate = Date
  const realNow = RealDate.now
  class SteppedDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(realNow() + clockOffsetMs)
      else super(...args)
    }
    static now() {
      return realNow() + clockOffsetMs
    }
  }
  globalThis.Date = SteppedDate
}
if (staleAfterMs !== undefined) process.env.TANDEM_STALE_AFTER_MS = String(staleAfterMs)
// Imported only now, so the registry sees the host name and clock set above.
const { openStore } = await import('tandemdb')

report({ type: 'ready', pid: process.pid })
await command('go')
let store
try {
  store = await openStore({
    path,
    role: 'daemon',
    roles: { daemon: { singleton: true } },
    collections: { jobs: { writers: ['daemon'] } },
    onWritesRefused: (error) => report({ type: 'writes-refused', error: describeError(error) }),
  })
  report({ type: 'holder', pid: process.pid })
} catch (error) {
  report({ type: 'refused', error: describeError(error) })
  finish()
}
for (;;) {
  const cmd = await command('cmd')
  if (cmd.action === 'stop') break
  if (cmd.action === 'write') {
    try {
      const record = await store.collection('jobs').insert({ by: process.pid, tag: cmd.tag })
      report({ type: 'wrote', tag: cmd.tag, id: record.id })
    } catch (error) {
      report({ type: 'write-failed', tag: cmd.tag, error: describeError(error) })
    }
  }
}
await store.close()
finish()
