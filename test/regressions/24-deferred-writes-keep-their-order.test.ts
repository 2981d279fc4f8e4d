// Issue 24 (review of the lock-order retry): a write PostgreSQL deferred to the next batch (it would
// have taken a lock out of the global order) ran again after the later writes of its batch had
// committed, so two un-awaited writes of one caller reached the change log out of order; and the
// batch counted the deferred write as committed. The queue runs here over a stand-in engine that
// defers one write once, the way the PostgreSQL backend does, so the order is exact.
import { expect, test } from 'vitest'
import { markRetryInNextBatch, type Backend, type WriteTx } from '../../src/backends/backend.js'
import { WriteQueue } from '../../src/store/write-queue.js'

/** A stand-in engine: each transaction's writes land in `log` on commit; a savepoint that throws is undone alone. */
function engine(concurrentAtomicWrites: boolean): { backend: Backend; log: string[] } {
  const log: string[] = []
  const backend = {
    capabilities: { concurrentAtomicWrites },
    async write(work: (tx: WriteTx) => Promise<unknown>) {
      const pending: string[] = []
      let savepoint: string[] | undefined
      const tx = {
        append: (entry: string) => void (savepoint ?? pending).push(entry),
        async savepoint<T>(body: () => Promise<T>): Promise<T> {
          savepoint = []
          try {
            const value = await body()
            pending.push(...savepoint)
            return value
          } finally {
            savepoint = undefined
          }
        },
      }
      const result = await work(tx as unknown as WriteTx)
      log.push(...pending) // COMMIT
      return result
    },
  }
  return { backend: backend as unknown as Backend, log }
}

const append = (tx: WriteTx, entry: string) => (tx as unknown as { append: (e: string) => void }).append(entry)

test.each([false, true])(
  'a write deferred to the next batch still commits before the writes issued after it (concurrentAtomicWrites: %s)',
  async (concurrent) => {
    const { backend, log } = engine(concurrent)
    const counts: number[] = []
    const queue = new WriteQueue(backend, 5000, (writes) => void counts.push(writes))
    let deferred = false
    const writes = [
      queue.push({ atomic: false, work: (tx) => append(tx, 'a') }),
      queue.push({
        atomic: false,
        work: (tx) => {
          if (!deferred) {
            deferred = true
            throw markRetryInNextBatch(new Error('lock out of order (injected)'))
          }
          append(tx, 'b')
        },
      }),
      queue.push({ atomic: false, work: (tx) => append(tx, 'c') }),
      queue.push({ atomic: true, work: (tx) => append(tx, 'd') }),
      queue.push({ atomic: true, work: (tx) => append(tx, 'e') }),
    ]
    await Promise.all(writes)
    expect(log, 'the change log must follow the order the caller issued the writes in').toEqual(['a', 'b', 'c', 'd', 'e'])
    expect(
      counts.reduce((a, b) => a + b, 0),
      'each write counted once, when it committed',
    ).toBe(5)
    expect(counts[0], 'the first batch committed only "a"').toBe(1)
  },
)
