import { watch, type FSWatcher } from 'node:fs'

/** How often the fallback looks at PRAGMA data_version when no file event came. */
export const FALLBACK_CHECK_MS = 50
/**
 * After an event that found nothing new, look again: on the next turns of the event loop for up
 * to half a millisecond (the commit usually becomes visible microseconds after its WAL write),
 * then after these delays.
 */
const RECHECK_SPIN_MS = 0.5
const RECHECK_DELAYS_MS = [1, 2, 5, 10]

/**
 * Calls `onCommit` soon after any process commits. The fast path is an inotify watch on the -wal
 * file (fs.watch holds no descriptor on the file, so SQLite's POSIX locks are safe). It fires when
 * the WAL bytes are written, a moment *before* the commit becomes visible (SQLite publishes it in
 * the -shm index afterwards), and events can coalesce: so every event is confirmed with
 * `dataVersion()` — PRAGMA data_version, which changes when any other connection commits — and an
 * event that finds nothing is re-checked a few times in the next milliseconds. A timer checking
 * data_version every 50 ms catches anything the watch missed (a deleted and re-created WAL, a
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
      const spinUntil = performance.now() + RECHECK_SPIN_MS
      while (performance.now() < spinUntil) {
        await new Promise((resolve) => setImmediate(resolve))
        if (stopped || check()) return
      }
      for (const delay of RECHECK_DELAYS_MS) {
        await new Promise((resolve) => setTimeout(resolve, delay))
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
  // Not unref'd: like an open socket, a live change reader keeps the process running until it is
  // closed (or the store is), so `for await (const c of store.changes())` can be a daemon's main loop.

  return () => {
    stopped = true
    clearInterval(timer)
    watcher?.close()
  }
}
