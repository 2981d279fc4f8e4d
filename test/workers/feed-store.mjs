// The store every change-feed worker opens: three collections anyone may write. They keep
// history: 'full', so no change is coalesced and the followers can be checked for every seq.
import { openStore } from 'tandemdb'

const KEEP_ALL = { writers: '*', history: 'full' }
export const FEED_COLLECTIONS = { jobs: KEEP_ALL, events: KEEP_ALL, notes: KEEP_ALL }

export function openFeedStore(path, role) {
  return openStore({ path, role, collections: FEED_COLLECTIONS })
}
