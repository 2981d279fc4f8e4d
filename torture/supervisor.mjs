// Keeps the torture processes alive: each named process is restarted a moment after it dies
// (a new incarnation), until the run stops. Counts deaths by SIGKILL (the nemesis at work) and
// records any other death (a crash: an error the process did not expect) with its stderr.
import { fork } from 'node:child_process'

const STDERR_KEPT = 4000

export class Supervisor {
  #processes = new Map()
  #stopping = false
  #onTargets
  #random
  #restartDelayMs
  kills = 0
  restarts = 0
  crashes = []
  /** Processes that, asked to stop, made no progress for `stallMs` and were killed: [{ name, incarnation }]. */
  stragglers = []

  /** `onTargets(list)` hears every change of the live processes: [{ name, pid }]. */
  constructor({ onTargets, random, restartDelayMs = [5, 60] }) {
    this.#onTargets = onTargets
    this.#random = random
    this.#restartDelayMs = restartDelayMs
  }

  /** Starts `script` as `name`; `argsFor(incarnation)` gives the JSON argument of each incarnation. */
  start(name, script, argsFor) {
    const entry = { name, script, argsFor, incarnation: 0, child: undefined, exited: undefined, stderr: '' }
    this.#processes.set(name, entry)
    this.#spawn(entry)
  }

  #spawn(entry) {
    const child = fork(entry.script, [JSON.stringify(entry.argsFor(entry.incarnation))], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      execArgv: [],
    })
    entry.child = child
    entry.stderr = ''
    child.on('error', () => undefined) // A send to a process that was just killed.
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (chunk) => (entry.stderr = (entry.stderr + chunk).slice(-STDERR_KEPT)))
    entry.exited = new Promise((resolve) =>
      child.once('close', (code, signal) => {
        entry.child = undefined
        this.#announce()
        this.#died(entry, code, signal)
        resolve({ code, signal })
      }),
    )
    this.#announce()
  }

  #died(entry, code, signal) {
    if (this.#stopping && (code === 0 || signal === 'SIGKILL')) return
    if (signal === 'SIGKILL') this.kills++
    else this.crashes.push({ name: entry.name, incarnation: entry.incarnation, code, signal, stderr: entry.stderr.trim() })
    if (this.#stopping) return
    entry.incarnation++
    this.restarts++
    const [lo, hi] = this.#restartDelayMs
    setTimeout(
      () => {
        if (!this.#stopping) this.#spawn(entry)
      },
      this.#random.int(lo, hi),
    )
  }

  #announce() {
    const targets = []
    for (const entry of this.#processes.values())
      if (entry.child?.pid !== undefined) targets.push({ name: entry.name, pid: entry.child.pid })
    this.#onTargets(targets)
  }

  isRunning(name) {
    return this.#processes.get(name)?.child !== undefined
  }

  /**
   * Sends `message` to `name`, and again every 250 ms until it exits: a process restarted a moment
   * ago may still be loading its modules, and a message that arrives before its listener is lost.
   */
  sendUntilExit(name, message) {
    const entry = this.#processes.get(name)
    if (entry?.child === undefined) return
    const send = () => {
      try {
        if (entry.child?.connected) entry.child.send(message)
      } catch {
        // The channel closed: the process is exiting.
      }
    }
    send()
    const timer = setInterval(send, 250)
    void entry.exited.then(() => clearInterval(timer))
  }

  /** No more restarts from now on. */
  freeze() {
    this.#stopping = true
  }

  /**
   * Sends `{ type: 'stop' }` to the named processes and waits for them to exit, SIGKILLing any
   * that made no progress for `stallMs` (their transactions in flight then count as unknown).
   * Progress is a change in `progressOf(name)` (the size of its log, say); without it, any
   * process still running `stallMs` after the stop is killed.
   */
  async stop(names, stallMs, progressOf = () => 0) {
    this.freeze()
    const waits = names.map(async (name) => {
      const entry = this.#processes.get(name)
      if (entry?.child === undefined) return
      this.sendUntilExit(name, { type: 'stop' })
      const stopWatch = watchProgress(
        () => progressOf(name),
        stallMs,
        () => {
          if (entry.child === undefined) return
          this.stragglers.push({ name, incarnation: entry.incarnation })
          entry.child.kill('SIGKILL')
        },
      )
      await entry.exited
      stopWatch()
    })
    await Promise.all(waits)
  }

  /** Starts `name` once more after the run stopped (the follower, to drain the feed). */
  revive(name, argsFor) {
    const entry = this.#processes.get(name)
    entry.incarnation++
    entry.argsFor = argsFor
    this.#spawn(entry)
    return entry
  }

  /**
   * Resolves when `name` has exited; SIGKILLs it once it made no progress (a change in
   * `progress()`) for `stallMs`. Resolves with true if it had to be killed.
   */
  async waitFor(name, stallMs, progress = () => 0) {
    const entry = this.#processes.get(name)
    if (entry?.child === undefined) return false
    let killed = false
    const stopWatch = watchProgress(progress, stallMs, () => {
      killed = true
      entry.child?.kill('SIGKILL')
    })
    await entry.exited
    stopWatch()
    return killed
  }
}

/**
 * Calls `onStall()` once `progress()` has not changed for `stallMs` (looking every 250 ms or so);
 * returns a function that stops watching.
 */
export function watchProgress(progress, stallMs, onStall) {
  let last = progress()
  let since = performance.now()
  const timer = setInterval(
    () => {
      const now = progress()
      if (now !== last) {
        last = now
        since = performance.now()
      } else if (performance.now() - since >= stallMs) {
        clearInterval(timer)
        onStall()
      }
    },
    Math.min(250, stallMs),
  )
  return () => clearInterval(timer)
}
