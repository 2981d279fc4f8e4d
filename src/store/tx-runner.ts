import type { WriteTx } from '../backends/backend.js'
import { TandemError } from '../errors.js'
import type { Runner } from './collection.js'
import { settle } from './settle.js'

/**
 * A runner that sends every operation straight to one open transaction: for code that already
 * holds the write lock (migrations, seeds), where queueing would wait for itself.
 */
export function txRunner(tx: WriteTx, role: string): Runner {
  return {
    role,
    operation: (op) => settle(op),
    write: (job) => settle(() => job.work(tx)),
    read: (work) => work(tx),
    callback: async (_tx, body) => body(),
    changes: () => {
      throw new TandemError('UNSUPPORTED', 'The change feed cannot be read from inside a migration or seed.', {
        hint: 'Read changes from a normal store handle.',
      })
    },
  }
}
