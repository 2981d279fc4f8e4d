// One contender of the stale-lock takeover race. For each { type: 'race', trial, at } command it
// waits until `at` (epoch ms, the same instant for every contender), tries once to take the lock
// (timeoutMs 0: whoever finds a live holder loses at once), and reports { type: 'won' | 'lost',
// trial }. A winner keeps the lock until { type: 'release' }.
import { acquireFileLock } from 'tandemdb/fs'
import { command, describeError, failOnCrash, report, workerArgs } from './channel.mjs'

failOnCrash()
const { file } = workerArgs()
report({ type: 'ready' })
for (;;) {
  const { trial, at } = await command('race')
  while (Date.now() < at) {
    // spin: both contenders start within microseconds of each other
  }
  let lock
  try {
    lock = await acquireFileLock(file, { timeoutMs: 0 })
  } catch (error) {
    report({ type: 'lost', trial, error: describeError(error) })
    continue
  }
  report({ type: 'won', trial, token: lock.token })
  await command('release')
  await lock.release()
  report({ type: 'released', trial })
}
