import type { ChildProcess } from 'node:child_process'
import { rmSync } from 'node:fs'

/** How long a store may take to close on the way out before the folder is removed anyway. */
const CLOSE_WAIT_MS = 2_000
const SIGNAL_EXIT: Record<'SIGINT' | 'SIGTERM', number> = { SIGINT: 130, SIGTERM: 143 }

/**
 * What `tandem demo` must undo whatever way it ends: the worker processes it forked, its own
 * store, and the temporary folder it created (a folder given with --dir is the user's and stays).
 * `finish()` runs on a normal end or an error; on SIGINT or SIGTERM the handlers stop the workers,
 * remove the folder and exit with 128 + the signal number. Workers are stopped before the folder
 * goes, so none of them can write into it afterwards.
 */
export class DemoCleanup {
  readonly #children = new Set<ChildProcess>()
  readonly #tempDir: string | undefined
  #close: (() => Promise<void>) | undefined
  #done: Promise<void> | undefined
  readonly #onSignal = (signal: 'SIGINT' | 'SIGTERM') => {
    void this.finish().finally(() => {
      process.stderr.write(
        `\nInterrupted (${signal}): stopped the demo's processes${this.#tempDir === undefined ? '' : ` and removed ${this.#tempDir}`}.\n`,
      )
      process.exit(SIGNAL_EXIT[signal])
    })
  }

  /** `tempDir`: the folder to remove at the end, or undefined to keep it. */
  constructor(tempDir: string | undefined) {
    this.#tempDir = tempDir
    process.once('SIGINT', this.#onSignal)
    process.once('SIGTERM', this.#onSignal)
  }

  /** True when the folder is removed at the end. */
  get removesFolder(): boolean {
    return this.#tempDir !== undefined
  }

  /** A worker to kill at the end if it is still running. */
  track(child: ChildProcess): void {
    this.#children.add(child)
    child.once('exit', () => this.#children.delete(child))
  }

  /** The store to close before the folder is removed. */
  onClose(close: () => Promise<void>): void {
    this.#close = close
  }

  /** Stops the workers, closes the store, removes the temporary folder; once, however often called. */
  finish(): Promise<void> {
    this.#done ??= this.#run()
    return this.#done
  }

  async #run(): Promise<void> {
    process.off('SIGINT', this.#onSignal)
    process.off('SIGTERM', this.#onSignal)
    await Promise.all(
      [...this.#children].map((child) => {
        const exited = new Promise<void>((done) =>
          child.exitCode !== null || child.signalCode !== null ? done() : child.once('exit', () => done()),
        )
        child.kill('SIGKILL')
        return exited
      }),
    )
    if (this.#close !== undefined)
      await Promise.race([this.#close().catch(() => undefined), new Promise((done) => setTimeout(done, CLOSE_WAIT_MS).unref())])
    if (this.#tempDir !== undefined) rmSync(this.#tempDir, { recursive: true, force: true })
  }
}
