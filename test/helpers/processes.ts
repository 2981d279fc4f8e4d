import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { onTestFinished } from 'vitest'

/** What a worker reports: one JSON object per stdout line, always with a `type`. */
export interface WorkerMessage {
  type: string
  [field: string]: unknown
}

export interface WorkerExit {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface WorkerHandle {
  /** The script name and pid, for failure messages. */
  readonly label: string
  readonly pid: number
  /** Every message received so far, in arrival order. */
  readonly messages: WorkerMessage[]
  /**
   * Settles once the process is gone AND its stdout is fully read (the 'close' event), so every
   * line the worker wrote before it died is in `messages` by then.
   */
  readonly exited: Promise<WorkerExit>
  /** True until the process has exited. */
  readonly running: boolean
  /** Sends a command over the IPC channel (the worker reads it with `command()`). */
  send(message: WorkerMessage): void
  /** Calls `listener` for every message from now on, synchronously on arrival. */
  onMessage(listener: (message: WorkerMessage) => void): void
  /**
   * The first message (already received or still to come) of this type, or matching this test.
   * Fails if the worker exits first, or if the test stalls: no worker of this test file sent
   * anything (and nothing called `noteProgress()`) for `stallMs` (default STALL_MS).
   */
  waitFor(match: string | ((message: WorkerMessage) => boolean), stallMs?: number): Promise<WorkerMessage>
  /** What the worker wrote to stderr. */
  stderr(): string
  /** Its last messages (a 'crash' report, say), stderr and stray stdout: for failure messages. */
  explain(): string
  kill(signal?: NodeJS.Signals): void
}

/** Absolute path of a script in test/workers/. */
export function workerScript(name: string): string {
  return fileURLToPath(new URL(`../workers/${name}`, import.meta.url))
}

/**
 * How long a wait may go without any sign of progress before it fails. Waits follow progress, not
 * a wall clock: every message from any worker of this test file counts (so do `noteProgress()`
 * calls), so a loaded machine that is slow but moving never fails a wait; only a stall does. Every
 * step a test waits for takes milliseconds when things work, so half a minute of silence means
 * something is stuck, not slow.
 */
export const STALL_MS = 30_000

/**
 * The vitest timeout of a test whose length follows machine load (it waits for workers with the
 * stall window above): a last resort, hit only if the stall detection itself did not fire.
 */
export const LAST_RESORT_TIMEOUT_MS = 15 * 60_000

let lastProgressAt = performance.now()

/** Records that the test moved on (a message arrived, a kill landed...): it resets every stall window. */
export function noteProgress(): void {
  lastProgressAt = performance.now()
}

/**
 * Calls `onStall(silentMs)` once no progress was noted for `stallMs`, counting from now at the
 * earliest; returns a function that cancels the watch. Checks twice a second or so.
 */
function watchForStall(stallMs: number, onStall: (silentMs: number) => void): () => void {
  const since = performance.now()
  const timer = setInterval(
    () => {
      const silentMs = performance.now() - Math.max(lastProgressAt, since)
      if (silentMs >= stallMs) {
        clearInterval(timer)
        onStall(Math.round(silentMs))
      }
    },
    Math.min(500, Math.max(10, stallMs / 4)),
  )
  return () => clearInterval(timer)
}

/**
 * Polls `done()` (every 10 ms, or as fast as it answers if it is async) until it is true. Fails with `what` when no progress was noted for
 * `stallMs`: a worker message, a `noteProgress()` call, or a change in `progress()` (a count the
 * caller watches, say the acks received so far).
 */
export async function waitUntil(
  done: () => boolean | Promise<boolean>,
  what: string,
  options: { stallMs?: number; progress?: () => number } = {},
): Promise<void> {
  const stallMs = options.stallMs ?? STALL_MS
  let seen = options.progress?.()
  let stalled: number | undefined
  const stop = watchForStall(stallMs, (silentMs) => (stalled = silentMs))
  try {
    while (!(await done())) {
      if (stalled !== undefined) throw new Error(`Still waiting for ${what}: nothing progressed for ${stalled} ms.`)
      await sleep(10)
      const now = options.progress?.()
      if (now !== seen) {
        seen = now
        noteProgress()
      }
    }
  } finally {
    stop()
  }
}

/**
 * Forks `test/workers/<script>` as a real Node process: `args` go in as one JSON argument, the
 * worker's reports come back as JSON lines on its stdout (written synchronously, so a line the
 * worker wrote before a SIGKILL is never lost), commands go down over IPC. The child is killed
 * with SIGKILL when the test ends, pass or fail. The script imports 'tandemdb', which resolves to
 * dist/: run `npm run build` first.
 */
export function forkWorker(script: string, args: unknown = {}): WorkerHandle {
  const child: ChildProcess = fork(workerScript(script), [JSON.stringify(args)], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    // The test runner's own flags (loaders, inspector) are not for the workers.
    execArgv: [],
  })
  if (child.pid === undefined) throw new Error(`Could not start worker ${script}.`)
  const label = `${script} (pid ${child.pid})`
  const messages: WorkerMessage[] = []
  const listeners: ((message: WorkerMessage) => void)[] = []
  let errText = ''
  let outText = ''
  let partial = ''
  let running = true

  child.stdout!.setEncoding('utf8')
  child.stdout!.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n')
    partial = lines.pop()!
    for (const line of lines) {
      if (!line.startsWith('{')) {
        outText += `${line}\n`
        continue
      }
      const message = JSON.parse(line) as WorkerMessage
      noteProgress()
      messages.push(message)
      for (const listener of listeners) listener(message)
    }
  })
  child.stderr!.setEncoding('utf8')
  child.stderr!.on('data', (chunk: string) => {
    errText += chunk
  })
  // A worker killed mid-send makes the channel fail; that is the point of some tests, not an error.
  child.on('error', () => undefined)

  const exited = new Promise<WorkerExit>((resolve) => {
    child.once('close', (code, signal) => {
      running = false
      resolve({ code, signal })
    })
  })

  onTestFinished(async () => {
    if (running) child.kill('SIGKILL')
    await exited
  })

  const describeEnd = () => {
    const last = messages.slice(-3).map((m) => JSON.stringify(m))
    return `${label} last messages:\n${last.join('\n') || '(none)'}\nstderr:\n${errText || '(empty)'}${outText ? `\nstdout:\n${outText}` : ''}`
  }

  return {
    label,
    pid: child.pid,
    messages,
    exited,
    get running() {
      return running
    },
    send(message) {
      child.send(message)
    },
    onMessage(listener) {
      listeners.push(listener)
    },
    waitFor(match, stallMs = STALL_MS) {
      const test = typeof match === 'string' ? (m: WorkerMessage) => m.type === match : match
      const what = typeof match === 'string' ? `"${match}"` : 'a matching message'
      const already = messages.find(test)
      if (already !== undefined) return Promise.resolve(already)
      const waiting = new Promise<WorkerMessage>((resolve, reject) => {
        let done = false
        const finish = (fn: () => void) => {
          if (done) return
          done = true
          stopWatch()
          fn()
        }
        const stopWatch = watchForStall(stallMs, (silentMs) =>
          finish(() =>
            reject(
              new Error(
                `${label} sent no ${what}, and no worker of this test reported anything for ${silentMs} ms: stalled. ${describeEnd()}`,
              ),
            ),
          ),
        )
        listeners.push((m) => {
          if (test(m)) finish(() => resolve(m))
        })
        void exited.then(({ code, signal }) =>
          finish(() => reject(new Error(`${label} exited (code ${code}, signal ${signal}) before sending ${what}. ${describeEnd()}`))),
        )
      })
      // When a test already failed on another worker, nobody awaits this one any more: its
      // rejection (the worker killed at the end of the test) must not count as unhandled.
      waiting.catch(() => undefined)
      return waiting
    },
    stderr() {
      return errText
    },
    explain: describeEnd,
    kill(signal = 'SIGKILL') {
      if (running) child.kill(signal)
    },
  }
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Asserts a worker ended by itself with exit code 0; otherwise fails with its stderr. */
export async function expectCleanExit(worker: WorkerHandle): Promise<void> {
  const { code, signal } = await worker.exited
  if (code !== 0) throw new Error(`${worker.label} ended with code ${code}, signal ${signal}. ${worker.explain()}`)
}

let execTags = 0

/**
 * Runs SQL in a `raw-sqlite.mjs` worker and waits for it to finish; rejects with the SQLite
 * error (code included) if it failed. With `releaseAfterMs` the worker also runs COMMIT by itself
 * that long after (on its own clock, whatever this process is doing) and then reports
 * `{ type: 'released', tag }`; `rawExec(worker, '', { releaseNow: true })` runs that COMMIT at
 * once instead. Resolves with the tag.
 */
export async function rawExec(
  worker: WorkerHandle,
  sql: string,
  options: { releaseAfterMs?: number; releaseNow?: boolean } = {},
): Promise<string> {
  const tag = `exec-${++execTags}`
  worker.send({ type: 'exec', sql, tag, ...options })
  const reply = await worker.waitFor((m) => m.tag === tag)
  if (reply.type === 'failed') {
    const error = reply.error as { code?: string; message: string }
    throw Object.assign(new Error(`${worker.label}: ${sql} failed: ${error.message}`), { code: error.code })
  }
  return tag
}
