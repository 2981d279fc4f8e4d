// The change feed as the follower got it. Within one stream, seqs come in order, each once, and on
// SQLite without holes; a restarted follower resumes right after its last acknowledged seq; all
// streams together cover every seq up to the store's head; each key's changes carry versions
// 1, 2, 3... in seq order and end at the version and state the store holds.
import { stateKey } from './model.mjs'

export function checkFeed(model, report) {
  const feed = model.history.feed
  if (feed === undefined) return
  const gapFree = model.gapFreeSeq
  let complete = gapFree
  let acked = 0
  let delivered = 0
  const bySeq = new Map()

  feed.incarnations.forEach((incarnation, n) => {
    if (incarnation.position === undefined) return // Killed before it had a stream.
    if (incarnation.position < acked) {
      report.add(
        'feed',
        `Follower incarnation ${n} resumed at seq ${incarnation.position}, but seq ${acked} had already been acknowledged: the consumer's position went back.`,
      )
    }
    let previous = incarnation.position
    for (const change of incarnation.changes) {
      if (change.seq <= previous) {
        report.add(
          'feed',
          `Follower incarnation ${n} got seq ${change.seq} after seq ${previous}: a repeat or reordering within one stream.`,
        )
      } else if (gapFree && change.seq !== previous + 1) {
        report.add(
          'feed',
          `Follower incarnation ${n} got seq ${change.seq} right after seq ${previous}: ${change.seq - previous - 1} change(s) skipped.`,
        )
      }
      previous = Math.max(previous, change.seq)
      const known = bySeq.get(change.seq)
      if (known === undefined) bySeq.set(change.seq, change)
      else if (
        JSON.stringify([known.c, known.id, known.op, known.v, known.d]) !==
        JSON.stringify([change.c, change.id, change.op, change.v, change.d])
      ) {
        report.add(
          'feed',
          `Seq ${change.seq} was delivered twice with different contents (${known.id} v${known.v} then ${change.id} v${change.v}).`,
        )
      }
    }
    delivered = Math.max(delivered, previous)
    for (const seq of incarnation.acks) acked = Math.max(acked, seq)
  })

  // Together the streams cover every seq up to the head.
  const head = model.history.final?.head
  if (head !== undefined) {
    if (delivered < head) {
      complete = false
      report.add('feed', `The follower never got past seq ${delivered}; the store's change log ends at ${head}.`)
    }
    if (gapFree) {
      let missing = 0
      let first
      for (let seq = 1; seq <= Math.min(head, delivered); seq++) {
        if (bySeq.has(seq)) continue
        missing++
        first ??= seq
      }
      if (missing > 0) {
        complete = false
        report.add('feed', `${missing} seq(s) up to ${head} never reached the follower, the first ${first}.`)
      }
    }
  } else {
    complete = false
  }

  // Per key: versions 1, 2, 3... in seq order, ending where the store is.
  const lastOf = new Map()
  for (const change of model.feedChanges) {
    if (change.c !== 'kv') continue
    const last = lastOf.get(change.id)
    const expected = (last?.v ?? 0) + 1
    if (change.v !== expected) {
      report.add(
        'feed',
        `${change.id} goes from version ${last?.v ?? 0} (seq ${last?.seq ?? '-'}) to version ${change.v} (seq ${change.seq}) in the feed: ${change.v > expected ? 'a write is missing from the feed' : 'a version repeats'}.`,
      )
      if (change.v > expected) complete = false
    }
    lastOf.set(change.id, change)
  }
  if (model.finalKnown && complete) {
    for (const [k, record] of model.final) {
      const last = lastOf.get(k)
      if (last === undefined || last.v !== record.v)
        report.add('feed', `The feed's last change of ${k} is version ${last?.v ?? 'none'}, but the store holds version ${record.v}.`)
      else if (last.d !== undefined && stateKey(last.d) !== stateKey(record))
        report.add(
          'feed',
          `The feed's last change of ${k} (v${last.v}, seq ${last.seq}) differs from the record the store holds at that version.`,
        )
    }
  }
  model.feedComplete = complete && model.feedChanges.every((c) => c.c !== 'kv' || c.d !== undefined)
}
