// The store every change-feed worker opens: three collections anyone may write.
import { openStore } from 'tandemdb'

export const FEED_COLLECTIONS = { jobs: { writers: '*' }, events: { writers: '*' }, notes: { writers: '*' } }

export function openFeedStore(path, role) {
  return openStore({ path, role, collections: FEED_COLLECTIONS })
}
