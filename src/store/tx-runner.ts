import type { WriteTx } from '../backends/backend.js'
import type { Runner } from './collection.js'
import { settle } from './settle.js'

/**
 * The runner of code that already holds an open transaction — a `store.transaction()` callback or
 * a migration — where queueing would wait for itself: every read and write goes to `run`,
 * which hands it the open transaction. (The other runner, the store's own, queues writes for
 * group commit: the constructor of Store in store.ts.)
 */
export function txRunner(
  role: string,
  run: <T>(work: (tx: WriteTx) => T | Promise<T>) => Promise<T>,
  changes: Runner['changes'],
  changeLog?: Runner['changeLog'],
): Runner {
  return {
    role,
    operation: (op) => settle(op),
    write: (job) => run(job.work),
    read: (work) => run(work),
    callback: async (_tx, body) => body(),
    changes,
    ...(changeLog === undefined ? {} : { changeLog }),
  }
}
