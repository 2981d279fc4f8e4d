// The change feed as a stream, checked as it is read, in memory that does not grow with its
// length: within one follower stream, seqs come in order, each once, and (gap-free backends)
// without holes; a restarted follower resumes at or after its last acknowledged seq; a seq
// delivered again carries the same change; all streams together cover every seq up to the head.
// Each seq is handed to `onChange` once, the first time it arrives, so in seq order.
//
// Memory: the changes delivered but not yet acknowledged (a redelivery can only repeat those; one
// resuming before the acknowledged position is reported as such), and the holes not yet filled.

const HOLES_KEPT = 1000

export class FeedStream {
  #report
  #gapFree
  #onChange
  #incarnation = -1
  #stream
  #acked = 0
  #max = 0
  /** Delivered and not acknowledged yet: seq → change. */
  #recent = new Map()
  /** Seq ranges [lo, hi] past which the feed went without delivering them (yet). */
  #holes = []
  #holesDropped = 0
  streams = 0
  changes = 0
  interruptions = 0

  /** `report(class, message)`; `onChange(change)` gets each seq once. */
  constructor({ report, gapFreeSeq = true, onChange = () => undefined }) {
    this.#report = report
    this.#gapFree = gapFreeSeq
    this.#onChange = onChange
  }

  /** The highest seq delivered so far. */
  get delivered() {
    return this.#max
  }

  /** Whether every seq up to `delivered` has arrived, as far as this backend can tell. */
  get completeSoFar() {
    return this.#gapFree && this.#holes.length === 0 && this.#holesDropped === 0
  }

  /** A log entry of the follower: boot, start, ch, ack, interrupted. */
  entry(e) {
    switch (e.t) {
      case 'boot':
        this.#incarnation++
        this.#stream = undefined
        break
      case 'start':
        this.start(e.position)
        break
      case 'ch':
        this.change(e)
        break
      case 'ack':
        this.ack(e.seq)
        break
      case 'interrupted':
        this.interruptions++
        break
    }
  }

  start(position) {
    this.streams++
    if (this.#incarnation < 0) this.#incarnation = 0
    this.#stream = { previous: position }
    if (position < this.#acked)
      this.#report(
        'feed',
        `Follower incarnation ${this.#incarnation} resumed at seq ${position}, but seq ${this.#acked} had already been acknowledged: the consumer's position went back.`,
      )
  }

  change(change) {
    const stream = this.#stream ?? (this.#stream = { previous: 0 })
    const n = this.#incarnation
    if (change.seq <= stream.previous) {
      this.#report(
        'feed',
        `Follower incarnation ${n} got seq ${change.seq} after seq ${stream.previous}: a repeat or reordering within one stream.`,
      )
    } else if (this.#gapFree && change.seq !== stream.previous + 1) {
      this.#report(
        'feed',
        `Follower incarnation ${n} got seq ${change.seq} right after seq ${stream.previous}: ${change.seq - stream.previous - 1} change(s) skipped.`,
      )
    }
    stream.previous = Math.max(stream.previous, change.seq)
    if (change.seq > this.#max) {
      if (this.#gapFree && change.seq > this.#max + 1) this.#hole(this.#max + 1, change.seq - 1)
      this.#max = change.seq
      this.#first(change)
      return
    }
    const known = this.#recent.get(change.seq)
    if (known !== undefined) {
      if (!sameChange(known, change))
        this.#report(
          'feed',
          `Seq ${change.seq} was delivered twice with different contents (${known.id} v${known.v} then ${change.id} v${change.v}).`,
        )
    } else if (this.#fill(change.seq)) {
      this.#first(change)
    }
  }

  ack(seq) {
    if (seq <= this.#acked) return
    this.#acked = seq
    for (const s of this.#recent.keys()) {
      if (s > seq) break
      this.#recent.delete(s)
    }
  }

  /** At the end: the streams together must reach the store's head (undefined: unknown) with no seq missing. Returns whether the feed is complete. */
  end(head) {
    let complete = this.completeSoFar
    if (head === undefined) return false
    if (this.#max < head) {
      complete = false
      this.#report('feed', `The follower never got past seq ${this.#max}; the store's change log ends at ${head}.`)
    }
    if (this.#gapFree) {
      let missing = 0
      for (const [lo, hi] of this.#holes) if (lo <= head) missing += Math.min(hi, head) - lo + 1
      if (missing > 0 || this.#holesDropped > 0) {
        complete = false
        this.#report(
          'feed',
          `${missing}${this.#holesDropped > 0 ? '+' : ''} seq(s) up to ${head} never reached the follower, the first ${this.#holes[0]?.[0] ?? '?'}.`,
        )
      }
    }
    return complete
  }

  #first(change) {
    this.changes++
    this.#recent.set(change.seq, change)
    this.#onChange(change)
  }

  #hole(lo, hi) {
    if (this.#holes.length >= HOLES_KEPT) this.#holesDropped++
    else this.#holes.push([lo, hi])
  }

  /** Whether `seq` was in a hole (now filled). */
  #fill(seq) {
    const i = this.#holes.findIndex(([lo, hi]) => lo <= seq && seq <= hi)
    if (i === -1) return false
    const [lo, hi] = this.#holes[i]
    const rest = [
      [lo, seq - 1],
      [seq + 1, hi],
    ].filter(([a, b]) => a <= b)
    this.#holes.splice(i, 1, ...rest)
    return true
  }
}

function sameChange(a, b) {
  return JSON.stringify([a.c, a.id, a.op, a.v, a.d, a.dv]) === JSON.stringify([b.c, b.id, b.op, b.v, b.d, b.dv])
}
