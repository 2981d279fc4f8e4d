// A plain better-sqlite3 connection (no Tandem) that runs the SQL the parent sends, so the parent
// controls exactly when this process takes, holds and releases SQLite's locks.
import Database from 'better-sqlite3'
import { command, describeError, failOnCrash, finish, report, workerArgs } from './channel.mjs'

failOnCrash()
const { file, busyTimeoutMs = 0 } = workerArgs()
const db = new Database(file, { timeout: busyTimeoutMs })
db.pragma('journal_mode = WAL')
report({ type: 'ready' })

// { sql, tag } runs sql and reports 'done' (or 'failed'). With releaseAfterMs, this process also
// runs COMMIT by itself that long after, on its own clock, and reports 'released' with that tag.
// { releaseNow: true, tag } runs that pending COMMIT at once (reporting 'released' for it), then
// reports 'done' with its own tag.
let pending
const release = () => {
  clearTimeout(pending.timer)
  const { tag } = pending
  pending = undefined
  db.exec('COMMIT')
  report({ type: 'released', tag })
}
for (;;) {
  const { sql, tag, releaseAfterMs, releaseNow, exit } = await command('exec')
  if (exit) break
  if (releaseNow) {
    if (pending !== undefined) release()
    report({ type: 'done', tag })
    continue
  }
  try {
    db.exec(sql)
    report({ type: 'done', tag })
  } catch (error) {
    report({ type: 'failed', tag, error: describeError(error) })
    continue
  }
  if (releaseAfterMs !== undefined) pending = { tag, timer: setTimeout(release, releaseAfterMs) }
}
db.close()
finish()
