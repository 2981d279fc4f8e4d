// A foreign process that keeps forcing wal_checkpoint(TRUNCATE) on the store with a raw
// better-sqlite3 connection (no waiting: busy_timeout 0), which resets and truncates the WAL
// under everybody's feet. Reports how many checkpoints went through.
import Database from 'better-sqlite3'
import { command, failOnCrash, finish, report, workerArgs } from './channel.mjs'

failOnCrash()
const { path, everyMs } = workerArgs()
const db = new Database(path)
db.pragma('busy_timeout = 0')
let done = 0
let busy = 0
const timer = setInterval(() => {
  try {
    const [result] = db.pragma('wal_checkpoint(TRUNCATE)')
    if (result.busy === 0) done++
    else busy++
  } catch {
    busy++
  }
}, everyMs)
report({ type: 'ready' })
await command('stop')
clearInterval(timer)
db.close()
report({ type: 'done', done, busy })
finish()
