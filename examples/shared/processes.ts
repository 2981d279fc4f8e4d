// The plumbing every example's main.ts shares: start a child process of the same runtime, wait for
// its messages, run the `tandem` CLI, a temporary data directory, and the checks that decide the
// exit code. Nothing here is about Tandem itself; the examples' own files are.
import { fork, spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'

/** Every message between a main.ts and its children is a plain object with a `type`. */
export interface Message {
  type: string
}

type Waiter = { type: string; resolve: (message: never) => void; reject: (error: Error) => void }

/** Every child still running, with a name for messages. */
const running = new Map<ChildProcess, string>()

/**
 * A child process running one of the example's .ts files with `node --import jiti/register`, as
 * `npm`-less users would run it. Its stdout and stderr are shown prefixed with its name; its
 * messages are queued by type until someone asks for them, so none is missed.
 */
export class Child<M extends Message = Message> {
  readonly name: string
  readonly process: ChildProcess
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  readonly #inbox: M[] = []
  readonly #waiters: Waiter[] = []
  #exit: string | undefined

  constructor(name: string, file: string, env: Record<string, string> = {}) {
    this.name = name
    this.process = fork(file, [], {
      execArgv: ['--import', 'jiti/register'],
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    })
    running.set(this.process, name)
    prefixLines(this.process.stdout, `[${name}] `, process.stdout)
    prefixLines(this.process.stderr, `[${name}] `, process.stderr)
    this.process.on('message', (message: M) => this.#deliver(message))
    this.exited = new Promise((resolve) => {
      // 'close', not 'exit': it comes after the last message and output line have been read.
      this.process.on('close', (code, signal) => {
        running.delete(this.process)
        this.#exit = signal === null ? `exited with code ${code}` : `was killed by ${signal}`
        for (const waiter of this.#waiters.splice(0))
          waiter.reject(new Error(`${this.name} ${this.#exit} before sending "${waiter.type}".`))
        resolve({ code, signal })
      })
    })
  }

  /** The next message of this type (one that already arrived, or the next to come). */
  next<T extends M['type']>(type: T): Promise<Extract<M, { type: T }>> {
    const index = this.#inbox.findIndex((m) => m.type === type)
    if (index >= 0) return Promise.resolve(this.#inbox.splice(index, 1)[0] as Extract<M, { type: T }>)
    if (this.#exit !== undefined) return Promise.reject(new Error(`${this.name} ${this.#exit} before sending "${type}".`))
    return new Promise((resolve, reject) => this.#waiters.push({ type, resolve: resolve as (message: never) => void, reject }))
  }

  send(message: Message): void {
    this.process.send(message)
  }

  /** Waits for the child to exit by itself and fails unless it exited with code 0. */
  async succeeded(): Promise<void> {
    const { code, signal } = await this.exited
    if (code !== 0) throw new Error(`${this.name} exited with ${signal ?? `code ${code}`}.`)
  }

  #deliver(message: M): void {
    const index = this.#waiters.findIndex((w) => w.type === message.type)
    if (index < 0) {
      this.#inbox.push(message)
      return
    }
    const [waiter] = this.#waiters.splice(index, 1)
    waiter!.resolve(message as never)
  }
}

function prefixLines(from: NodeJS.ReadableStream | null, prefix: string, to: NodeJS.WritableStream): void {
  let partial = ''
  from?.setEncoding('utf8')
  from?.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n')
    partial = lines.pop() ?? ''
    for (const line of lines) to.write(`${prefix}${line}\n`)
  })
  from?.on('end', () => partial !== '' && to.write(`${prefix}${partial}\n`))
}

/** The `tandem` command of the tandemdb package this example imports (its package.json `bin`). */
export function tandemBin(): string {
  const require = createRequire(import.meta.url)
  const manifest = require.resolve('tandemdb/package.json')
  const { bin } = JSON.parse(readFileSync(manifest, 'utf8')) as { bin: { tandem: string } }
  return join(dirname(manifest), bin.tandem)
}

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs `tandem <args>` to the end, in `cwd` (where it looks for tandem.config.ts). */
export function runCli(args: readonly string[], options: { cwd: string; env?: Record<string, string> }): Promise<CliResult> {
  const child = startCli(args, options)
  let stdout = ''
  let stderr = ''
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

/** The JSON document a `tandem ... --json` run printed; an error naming the run when there is none. */
export function parseCliJson<T>(result: CliResult): T {
  try {
    return JSON.parse(result.stdout) as T
  } catch {
    throw new Error(
      `tandem printed no JSON document (exit ${result.code}): ${result.stderr.trim() || result.stdout.trim() || '(no output)'}`,
    )
  }
}

/** Starts `tandem <args>` and leaves it running (for `tandem watch`); stop it with SIGINT. */
export function startCli(args: readonly string[], options: { cwd: string; env?: Record<string, string> }): ChildProcess {
  const child = spawn(process.execPath, [tandemBin(), ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  running.set(child, `tandem ${args[0]}`)
  child.on('exit', () => running.delete(child))
  return child
}

/** A count that can be waited on: `await tally.reach(100)` resolves once it is 100 or more. */
export class Tally {
  #value = 0
  readonly #waiters: { target: number; resolve: () => void }[] = []

  get value(): number {
    return this.#value
  }

  add(n = 1): void {
    this.#value += n
    for (const waiter of this.#waiters.filter((w) => w.target <= this.#value)) {
      this.#waiters.splice(this.#waiters.indexOf(waiter), 1)
      waiter.resolve()
    }
  }

  reach(target: number): Promise<void> {
    if (this.#value >= target) return Promise.resolve()
    return new Promise((resolve) => this.#waiters.push({ target, resolve }))
  }
}

/**
 * A fresh data directory for one run: inside $EXAMPLE_DATA_DIR when set (left there afterwards,
 * to look at), else in the system's temp folder (removed by `finish`).
 */
export function makeDataDir(example: string): string {
  const parent = process.env.EXAMPLE_DATA_DIR
  if (parent !== undefined && parent !== '') {
    mkdirSync(parent, { recursive: true, mode: 0o700 })
    return mkdtempSync(join(parent, `${example}-`))
  }
  const dir = mkdtempSync(join(tmpdir(), `tandem-${example}-`))
  temporary.push(dir)
  return dir
}

const temporary: string[] = []

/**
 * What decides the exit code: each check prints one line; `finish` prints the verdict and exits 0
 * only when every check passed. A run that throws (a child died, a deadline passed) fails too.
 */
export class Checks {
  readonly #failed: string[] = []

  check(ok: boolean, what: string): boolean {
    console.log(`${ok ? '  ok  ' : '  FAIL'}  ${what}`)
    if (!ok) this.#failed.push(what)
    return ok
  }

  /** Prints `OK: verdict` and exits 0, or FAIL and exits 1; never resolves. */
  finish(verdict: string): Promise<never> {
    if (this.#failed.length > 0) return fail(`${this.#failed.length} check(s) failed: ${this.#failed.join('; ')}`)
    return exit(0, `OK: ${verdict}`)
  }
}

/** Stops every child still running, removes the temp directory, prints the reason and exits 1. */
export function fail(reason: string): Promise<never> {
  return exit(1, `FAIL: ${reason}`)
}

let exiting = false

async function exit(code: number, line: string): Promise<never> {
  if (!exiting) {
    exiting = true
    // Children first, so none is still writing into the folder being removed.
    const children = [...running.keys()]
    for (const child of children) child.kill('SIGKILL')
    await Promise.all(
      children.map((child) =>
        child.exitCode !== null || child.signalCode !== null ? undefined : new Promise((resolve) => child.once('exit', resolve)),
      ),
    )
    for (const dir of temporary.splice(0)) {
      try {
        rmSync(dir, { recursive: true, force: true, maxRetries: 3 })
      } catch (error) {
        console.error(`Could not remove ${dir}: ${String(error)}`)
      }
    }
    ;(code === 0 ? process.stdout : process.stderr).write(`${line}\n`)
    // stdout may be a pipe or socket that Node writes to asynchronously: exiting at once could
    // drop the last lines (the verdict among them), so exit once both streams have taken theirs.
    process.stdout.write('', () => process.stderr.write('', () => process.exit(code)))
  }
  return new Promise<never>(() => undefined)
}

/**
 * Runs an example's main: any error fails the run, and so does `deadlineMs` passing (a last
 * resort against a hang; every wait inside is on messages or counts, never on a fixed sleep).
 */
export function runMain(deadlineMs: number, main: () => Promise<void>): void {
  const timer = setTimeout(
    () => void fail(`did not finish within ${deadlineMs / 1000} s; still running: ${[...running.values()].join(', ') || 'no child'}`),
    deadlineMs,
  )
  timer.unref()
  // Node exits, with code 0, once nothing is left to wait for: a wait on a message or event that
  // can no longer come would pass for success. Only a verdict may end the run.
  process.exitCode = 1
  process.on('beforeExit', () => void fail('the run stopped before its verdict: it was waiting for something that can no longer happen'))
  process.on('SIGINT', () => void fail('interrupted'))
  main().then(
    () => fail('main ended without a verdict'),
    (error: unknown) => fail(error instanceof Error ? (error.stack ?? error.message) : String(error)),
  )
}
