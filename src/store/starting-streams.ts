/**
 * The change streams of a store started with since 'now' whose starting point is not fixed yet.
 * 'now' is the call to changes(): writes the process makes after it wait until the stream has read
 * the log's head, or a write committing first (the head is read on another connection) would fall
 * before it. The wait is bounded, so writes fail (or go through) rather than hang while the stream
 * retries: they stop waiting once the first head read failed (the database is likely down, and the
 * stream then starts wherever its retried read finds the head), or after busyTimeoutMs if that read
 * hangs. A head read that goes through in time, the normal case, keeps the guarantee whole.
 */
export class StartingStreams {
  readonly #starting = new Set<Promise<unknown>>()

  /** A stream's first head read (`headTried`: settles once it went through or failed), waited for at most `timeoutMs`. */
  add(headTried: Promise<unknown>, timeoutMs: number): void {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs)
      timer.unref()
    })
    const started: Promise<unknown> = Promise.race([headTried, timeout])
    this.#starting.add(started)
    void started.then(() => {
      clearTimeout(timer)
      this.#starting.delete(started)
    })
  }

  /** What a write must wait for first, or undefined when no stream is starting (the usual case: no promise). */
  started(): Promise<unknown> | undefined {
    return this.#starting.size === 0 ? undefined : Promise.all(this.#starting)
  }
}
