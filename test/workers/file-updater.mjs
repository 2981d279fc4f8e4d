// Increments a counter file with updateJsonFile, `count` times, each increment named `<tag>-<i>`
// and logged inside the file ({ n, applied: [...] }), skipped when already there: a process that
// restarts after a SIGKILL redoes only what is missing, so an increment applied twice or lost
// shows in the file. Reports { type: 'acked', i } after each resolves (with `reportEach`), then
// { type: 'done', applied, skipped }. With `holdMs`, sleeps that long inside the lock (to be killed there).
import { updateJsonFile } from 'tandemdb/fs'
import { command, failOnCrash, finish, report, workerArgs } from './channel.mjs'

failOnCrash()
const { file, count, tag, from = 0, reportEach = false, holdMs = 0, waitForGo = false, staleMs, timeoutMs = 60_000 } = workerArgs()
report({ type: 'ready' })
if (waitForGo) await command('go')
let applied = 0
let skipped = 0
for (let i = from; i < count; i++) {
  const id = `${tag}-${i}`
  await updateJsonFile(
    file,
    async (state) => {
      const s = state ?? { n: 0, applied: [] }
      if (s.applied.includes(id)) {
        skipped++
        return undefined
      }
      if (holdMs > 0) {
        report({ type: 'holding', i })
        await new Promise((resolve) => setTimeout(resolve, Math.random() * holdMs))
      }
      applied++
      return { n: s.n + 1, applied: [...s.applied, id] }
    },
    { timeoutMs, ...(staleMs === undefined ? {} : { staleMs }) },
  )
  if (reportEach) report({ type: 'acked', i })
  else if ((i + 1) % 100 === 0) report({ type: 'progress', i })
}
report({ type: 'done', applied, skipped })
finish()
