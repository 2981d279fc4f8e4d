import { watch, type FSWatcher } from 'node:fs'

/** How often the fallback looks at PRAGMA data_version when no file event came. */
export const FALLBACK_CHECK_MS = 25
/** After an event that found nothing new, look again after these delays (ms; 0 = next turn of the loop). */
const RECHECK_DELAYS_MS = [0, 0, 1, 2, 5, 10]

/**
 * Calls `onCommit` soon after any process commits. The fast path is an inotify watch on the -wal
 * file (fs.watch holds no descriptor on the file, so SQLite's POSIX locks are safe). It fires when
 * the WAL bytes are written, a moment *before* the commit becomes visible (SQLite publishes it in
 * the -shm index afterwards), and events can coalesce: so every event is confirmed with
 * `dataVersion()` — PRAGMA data_version, which changes when any other connection commits — and an
 * event that finds nothing is re-checked a few times in the next milliseconds. A timer checking
 * data_version every 25 ms catches anything the watch missed (a deleted and re-created WAL, a
 * file system without inotify).
 */
export function watchWal(walPath: string, dataVersion: () => number, onCommit: () => void): () => void {
  let last = dataVersion()
  let stopped = false
  let watcher: FSWatcher | undefined
  let rechecking = false

  const check = (): boolean => {
    const now = dataVersion()
    if (now === last) return false
    last = now
    onCommit()
    return true
  }

  const recheck = async (): Promise<void> => {
    if (rechecking) return
    rechecking = true
    try {
      for (const delay of RECHECK_DELAYS_MS) {
        await new Promise((resolve) => (delay === 0 ? setImmediate(resolve) : setTimeout(resolve, delay)))
        if (stopped || check()) return
      }
    } finally {
      rechecking = false
    }
  }

  const startWatch = (): void => {
    if (watcher !== undefined || stopped) return
    try {
      watcher = watch(walPath, { persistent: false }, (event) => {
        if (!check()) void recheck()
        // The WAL was replaced (deleted when every connection closed, then re-created): watch the new one.
        if (event === 'rename') {
          watcher?.close()
          watcher = undefined
        }
      })
      watcher.on('error', () => {
        watcher?.close()
        watcher = undefined
      })
    } catch {
      watcher = undefined // No WAL file yet, or no inotify: the timer below still finds every commit.
    }
  }

  startWatch()
  const timer = setInterval(() => {
    check()
    startWatch()
  }, FALLBACK_CHECK_MS)
  timer.unref()

  return () => {
    stopped = true
    clearInterval(timer)
    watcher?.close()
  }
}
