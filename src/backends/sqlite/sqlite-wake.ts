import { watch, type FSWatcher } from 'node:fs'
import { SideFile } from './sqlite-side-file.js'

/*
 * Wake-ups for change readers across processes (the twin of postgres-wake.ts): a side file Tandem
 * writers touch after each commit, an inotify watch on it and on the -wal, and a slow fallback poll.
 */

/**
 * How often the fallback looks at PRAGMA data_version: every 50 ms while file events come, every
 * 200 ms once none came for a second. An idle follower's CPU is these wake-ups (on this VM an empty
 * 50 ms timer alone costs 0.5% of a core); the cost of the longer period falls only on a commit
 * that comes after a quiet second *and* whose file events were all missed.
 */
export const FALLBACK_CHECK_MS = 50
export const QUIET_FALLBACK_CHECK_MS = 200
const QUIET_AFTER_MS = 1000
/**
 * After an event that found nothing new, look again: on the next turns of the event loop for up
 * to half a millisecond (the commit usually becomes visible microseconds after its WAL write),
 * then after these delays.
 */
const RECHECK_SPIN_MS = 0.5
const RECHECK_DELAYS_MS = [1, 2, 5, 10]

/** The side file a Tandem writer touches after each commit: `<db>-commits`. */
export function commitSignalPath(databasePath: string): string {
  return `${databasePath}-commits`
}

/**
 * Writer side of the commit signal: after each commit, a Tandem writer sets the modification time
 * of `<db>-commits` (one futimes on a descriptor kept open, about a microsecond). Watchers get an
 * inotify event *after* the commit is visible, where the WAL's events come while it is being
 * written. Nothing is kept in the file and nothing depends on it for correctness: a lost signal
 * only leaves the wake-up to the WAL watch and the timers. Not a SQLite file, so fs may open it.
 */
export class CommitSignal {
  readonly #file: SideFile

  constructor(databasePath: string) {
    this.#file = new SideFile(commitSignalPath(databasePath))
  }

  /** A lost signal (a read-only directory, say) leaves readers to the WAL watch. */
  committed(): void {
    this.#file.touch(Date.now() / 1000)
  }

  close(): void {
    this.#file.close()
  }
}

/**
 * An inotify watch on `path` (fs.watch holds no descriptor on the file). It stops itself when the
 * file is replaced (deleted and re-created) or the watch fails; `ensure()` starts it again once
 * the file exists. `onEvent` runs for every event.
 */
function fileWatch(path: string, onEvent: () => void): { ensure(): void; close(): void } {
  let watcher: FSWatcher | undefined
  const close = (): void => {
    watcher?.close()
    watcher = undefined
  }
  return {
    ensure() {
      if (watcher !== undefined) return
      try {
        watcher = watch(path, { persistent: false }, (event) => {
          onEvent()
          if (event === 'rename') close()
        })
        watcher.on('error', close)
      } catch {
        watcher = undefined // No such file yet, or no inotify: the caller's timer looks again.
      }
    },
    close,
  }
}

/**
 * Calls `onCommit` soon after any process commits. The fast path is two inotify watches (fs.watch
 * holds no descriptor on the file, so SQLite's POSIX locks are safe). One is on `<db>-commits`,
 * which Tandem writers touch once each commit is visible (CommitSignal). The other, on the -wal
 * file, also sees writers that are not Tandem (another language, the sqlite3 shell): it fires when
 * the WAL bytes are written, a moment *before* the commit becomes visible (SQLite publishes it in
 * the -shm index afterwards), and events can coalesce. So every event is confirmed with
 * `dataVersion()` — PRAGMA data_version, which changes when any other connection commits — and a
 * WAL event that finds nothing is re-checked a few times in the next milliseconds. A timer
 * checking data_version (every 50 ms, 200 ms after a quiet second) catches anything the watches
 * missed (a deleted and re-created WAL, a file system without inotify).
 */
export function watchWal(walPath: string, dataVersion: () => number, onCommit: () => void, signalPath?: string): () => void {
  let last = dataVersion()
  let stopped = false
  let rechecking = false
  let lastEvent = performance.now()

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

  // A WAL event may come before its commit is visible: one that finds nothing is re-checked. The
  // WAL is replaced when every connection closed and a new one re-creates it: the watch follows.
  const noted = (handle: () => unknown) => (): void => {
    lastEvent = performance.now()
    handle()
  }
  const watches = [
    fileWatch(
      walPath,
      noted(() => check() || recheck()),
    ),
  ]
  if (signalPath !== undefined) watches.push(fileWatch(signalPath, noted(check)))
  for (const w of watches) w.ensure()
  const fallback = (): void => {
    check()
    for (const w of watches) w.ensure()
    timer = setTimeout(fallback, performance.now() - lastEvent < QUIET_AFTER_MS ? FALLBACK_CHECK_MS : QUIET_FALLBACK_CHECK_MS)
  }
  let timer = setTimeout(fallback, FALLBACK_CHECK_MS)
  // Not unref'd: like an open socket, a live change reader keeps the process running until it is
  // closed (or the store is), so `for await (const c of store.changes())` can be a daemon's main loop.

  return () => {
    stopped = true
    clearTimeout(timer)
    for (const w of watches) w.close()
  }
}
