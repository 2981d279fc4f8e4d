import type { Backend } from '../backends/backend.js'

/**
 * One per store: turns "some process committed" into a wake-up for every change reader of this
 * process. The backend's watch (a file watch on SQLite, LISTEN on PostgreSQL) runs only while at
 * least one reader exists, so a store nobody follows costs nothing. Readers compare generations
 * instead of waiting for events, so a commit that lands between a reader's last read and its wait
 * is never slept through.
 */
export class ChangeHub {
  readonly #backend: Backend
  #generation = 0
  #waiters: (() => void)[] = []
  #readers = 0
  #stopWatch: (() => void) | undefined
  #closed = false

  constructor(backend: Backend) {
    this.#backend = backend
  }

  get generation(): number {
    return this.#generation
  }

  get closed(): boolean {
    return this.#closed
  }

  /** Something committed (a local write, or the backend saw another process's): wake every reader. */
  poke(): void {
    this.#generation++
    const waiters = this.#waiters
    this.#waiters = []
    for (const wake of waiters) wake()
  }

  /** Resolves once the generation moved past `seen` (at once if it already has), or the hub closed. */
  waitPast(seen: number): Promise<void> {
    if (this.#generation !== seen || this.#closed) return Promise.resolve()
    return new Promise((resolve) => this.#waiters.push(resolve))
  }

  /** A reader starts: the first one starts the backend's watch. */
  attach(): void {
    if (this.#readers++ === 0 && !this.#closed) this.#stopWatch = this.#backend.watchCommits(() => this.poke())
  }

  /** A reader stops: the last one stops the watch. */
  detach(): void {
    if (--this.#readers === 0) {
      this.#stopWatch?.()
      this.#stopWatch = undefined
    }
  }

  close(): void {
    this.#closed = true
    this.#stopWatch?.()
    this.#stopWatch = undefined
    this.poke()
  }
}
