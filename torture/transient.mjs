// Failures after which trying again is safe and what an application would do: the call changed
// nothing (a connection terminated under it, a lock held too long), or may have changed something
// in a way a retry cannot double (opening a store, acknowledging a seq). Anything else is not
// retried: the process crashes and the checker reports it.

export const TRANSIENT = new Set(['STORAGE_FAILURE', 'BUSY_TIMEOUT', 'OUTCOME_UNKNOWN'])

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Runs `attempt` until it succeeds or fails for a lasting reason; `onRetry(error)` hears each transient failure. */
export async function retrying(attempt, onRetry, attempts = 50) {
  for (let n = 1; ; n++) {
    try {
      return await attempt()
    } catch (error) {
      if (!TRANSIENT.has(error?.code) || n >= attempts) throw error
      onRetry(error)
      await sleep(20 * n)
    }
  }
}
