// What lives across screens: the change feed's recent changes and listeners, and each screen's cleanups.

/** The last changes the feed delivered (newest last), and who wants to hear of new ones. */
const MAX_KEPT = 500
export const feed = {
  changes: [],
  state: 'connecting',
  listeners: new Set(),
  push(change) {
    change.receivedAt = Date.now()
    this.changes.push(change)
    if (this.changes.length > MAX_KEPT) this.changes.splice(0, this.changes.length - MAX_KEPT)
    for (const listener of this.listeners) listener(change)
  },
  /** Calls `listener` on each new change until the screen changes. */
  listen(listener) {
    this.listeners.add(listener)
    screenCleanups.push(() => this.listeners.delete(listener))
  },
}

/** What a screen registered to undo when another one is shown (timers, feed listeners). */
const screenCleanups = []
export function onLeave(cleanup) {
  screenCleanups.push(cleanup)
}

/** Runs the cleanups of the screen being left. */
export function leaveScreen() {
  generation++
  for (const cleanup of screenCleanups.splice(0)) cleanup()
}

let generation = 0
/** A check that stays true while the screen shown now is still the one shown: async work drops its results after a change. */
export function screenToken() {
  const mine = generation
  return () => mine === generation
}
