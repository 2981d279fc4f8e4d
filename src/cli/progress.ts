import { formatDuration } from './format.js'
import type { CommandContext } from './output.js'

const FRAMES = ['|', '/', '-', '\\']

/**
 * Runs `work` while a progress line ticks on stderr: the label, a spinner and the time so far.
 * Only on a TTY and never with --json (ctx.progress is a no-op otherwise), so pipes and scripts
 * see nothing of it. The lifecycle functions report no progress of their own yet, so this shows
 * that the work is alive and how long it has run, not a percentage.
 */
export async function withProgress<T>(ctx: CommandContext, label: string, work: () => Promise<T>): Promise<T> {
  const started = performance.now()
  let frame = 0
  const tick = () => ctx.progress(`${FRAMES[frame++ % FRAMES.length]} ${label} ${formatDuration(performance.now() - started)}`)
  tick()
  const timer = setInterval(tick, 250)
  try {
    return await work()
  } finally {
    clearInterval(timer)
    ctx.progress('')
  }
}
