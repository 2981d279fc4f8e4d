// The change feed, key by key: each key's changes carry versions 1, 2, 3... in seq order and end
// at the version and state the store holds. (The feed as a stream, seqs and acknowledgements, is
// checks/feed-stream.mjs.) A change's data is compared only when it is the data of exactly that
// change's version (`dv`, by default the change's own version): a feed that hands out a
// record's latest data instead (see follower.mjs) is checked on seqs, ids, versions and ops alone.
import { stateKey } from './model.mjs'

/**
 * Checks `model.feedChanges` (one key's, or every key's, in seq order) and sets
 * `model.feedComplete`: every write's state is in the feed, as the lost-patch check needs.
 * `streamComplete`: the stream as a whole has no hole so far (false when no follower ran).
 */
export function checkKeyFeed(model, report, { streamComplete }) {
  let complete = streamComplete
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
      else if (last.d !== undefined && (last.dv ?? last.v) === last.v && stateKey(last.d) !== stateKey(record))
        report.add(
          'feed',
          `The feed's last change of ${k} (v${last.v}, seq ${last.seq}) differs from the record the store holds at that version.`,
        )
    }
  }
  model.feedComplete = complete && model.feedChanges.every((c) => c.c !== 'kv' || (c.d !== undefined && (c.dv ?? c.v) === c.v))
}
