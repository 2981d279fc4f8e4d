// The cycle search a window at a time. Transactions arrive in invocation order; once every one
// invoked before `from + 2 * window` has all its edges (its keys are closed), the graph of the
// transactions invoked in [from, from + 2 * window) is searched, the components that begin in its
// first half are reported (the next window, which starts at its second half, reports the others),
// and the first half is dropped. So every cycle among transactions invoked within `window` of one
// another is found, and the graph in memory is two windows' worth, whatever the run's length.
import { searchCycles } from './graph.mjs'

export const DEFAULT_WINDOW_MS = 10_000

export class GraphWindow {
  #collector
  #realtime
  #windowUs
  #ops = []
  /** ops[0 .. #released) are all released. */
  #released = 0
  #from = 0
  windows = 0

  /** `windowMs` undefined: one search over everything, at flush(). */
  constructor(collector, { realtime = true, windowMs } = {}) {
    this.#collector = collector
    this.#realtime = realtime
    this.#windowUs = windowMs === undefined ? undefined : windowMs * 1000
  }

  add(op) {
    this.#ops.push(op)
  }

  /** Searches every window complete at history time `time`; `drop(ops)` hears the transactions let go. */
  advance(time, drop) {
    const w = this.#windowUs
    if (w === undefined) return
    for (;;) {
      const end = this.#from + 2 * w
      if (time < end) return
      while (this.#released < this.#ops.length && this.#ops[this.#released].released) this.#released++
      if (this.#released < this.#ops.length && this.#ops[this.#released].inv < end) return
      let count = 0
      while (count < this.#ops.length && this.#ops[count].inv < end) count++
      const half = this.#from + w
      searchCycles(this.#ops.slice(0, count), this.#collector, { realtime: this.#realtime, reportIf: (first) => first < half })
      this.windows++
      let gone = 0
      while (gone < this.#ops.length && this.#ops[gone].inv < half) gone++
      drop(this.#ops.splice(0, gone))
      this.#released = Math.max(0, this.#released - gone)
      this.#from = half
    }
  }

  /** The end of the history: searches what is left. */
  flush(drop) {
    searchCycles(this.#ops, this.#collector, { realtime: this.#realtime })
    this.windows++
    drop(this.#ops.splice(0))
    this.#released = 0
  }
}
