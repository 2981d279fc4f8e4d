import type { ChangeStart, FeedResume } from '../changes/change.js'
import type { WatchOptions } from './collection.js'

/** What watch reads: a change stream of one collection, closed when the watch stops. */
export interface WatchedStream<E> extends AsyncIterable<E> {
  close(): void
}

/** The stream a watch opens: one collection, errors to the watch's onError. */
export interface WatchStreamOptions {
  collections: string[]
  ids?: readonly string[]
  since: ChangeStart
  onInterrupted: (error: unknown) => void
  onResume?: (info: FeedResume) => void
}

/**
 * collection.watch, for the local and the remote store alike: opens the collection's stream with
 * `open`, calls `listener` with each change (awaited before the next), sends every error to
 * `onError` (a listener's error does not stop the feed), and returns the function that stops it.
 */
export function watchCollection<E>(
  collection: string,
  listener: (change: E) => unknown,
  options: WatchOptions,
  open: (options: WatchStreamOptions) => WatchedStream<E>,
): () => void {
  if (typeof listener !== 'function') throw new TypeError(`watch takes a function (change) => ... (got ${typeof listener}).`)
  const onError = options.onError ?? ((error: unknown) => console.error(error))
  const stream = open({
    collections: [collection],
    ...(options.ids === undefined ? {} : { ids: options.ids }),
    since: options.since ?? 'now',
    onInterrupted: onError,
    ...(options.onResume === undefined ? {} : { onResume: options.onResume }),
  })
  void (async () => {
    try {
      for await (const change of stream) {
        try {
          await listener(change)
        } catch (error) {
          onError(error)
        }
      }
    } catch (error) {
      onError(error)
    }
  })()
  return () => stream.close()
}
