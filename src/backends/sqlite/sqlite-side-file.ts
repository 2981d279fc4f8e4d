import { closeSync, futimesSync, openSync } from 'node:fs'

/**
 * A small side file beside the database (`<db>-turns`, `<db>-commits`) whose modification time
 * carries a signal between processes. Nothing is ever written in it; it is created empty, 0600, on
 * the first touch, and its descriptor stays open. It is not a SQLite file, so opening it with fs
 * is safe (this is the one module the no-fs lint lets open files beside a store). A signal is
 * never needed for correctness: once a touch fails (a read-only directory, say), later touches
 * are skipped and the signal is simply lost.
 */
export class SideFile {
  readonly #path: string
  #fd: number | undefined
  #failed = false

  constructor(path: string) {
    this.#path = path
  }

  get path(): string {
    return this.#path
  }

  /** Sets the file's access and modification time to `seconds` since the epoch; false if it cannot. */
  touch(seconds: number): boolean {
    if (this.#failed) return false
    try {
      this.#fd ??= openSync(this.#path, 'a', 0o600)
      futimesSync(this.#fd, seconds, seconds)
      return true
    } catch {
      this.#failed = true
      return false
    }
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd)
    this.#fd = undefined
  }
}
