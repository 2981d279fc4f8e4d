import { join } from 'node:path'
import { expect, test } from 'vitest'
import { tempDir } from '../helpers/backends.js'
import { LAST_RESORT_TIMEOUT_MS, forkWorker, type WorkerHandle } from '../helpers/processes.js'

const COUNT = 10_000

function seqsOf(worker: WorkerHandle, type: 'change' | 'acked'): number[] {
  return worker.messages.filter((m) => m.type === type).map((m) => m.seq as number)
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i)
}

test(
  'two follower processes get all 10,000 changes of a writer once and in order, through foreign TRUNCATE checkpoints; a SIGKILLed consumer resumes after its last ack',
  async () => {
    const path = join(tempDir(), 'feed.db')
    // The writer creates the store; the others open it once it exists.
    const writer = forkWorker('feed-writer.mjs', { path, count: COUNT })
    await writer.waitFor('ready')
    const consumer = forkWorker('feed-follower.mjs', { path, mode: 'consumer', name: 'b', until: COUNT })
    const stream = forkWorker('feed-follower.mjs', { path, mode: 'stream', until: COUNT })
    const checkpointer = forkWorker('checkpointer.mjs', { path, everyMs: 2 })
    await Promise.all([consumer.waitFor('ready'), stream.waitFor('ready'), checkpointer.waitFor('ready')])

    writer.send({ type: 'go' })
    await consumer.waitFor((m) => m.type === 'acked' && (m.seq as number) >= 3000)
    consumer.kill('SIGKILL')
    await consumer.exited
    const delivered = seqsOf(consumer, 'change')
    const lastAck = Math.max(...seqsOf(consumer, 'acked'))

    const resumed = forkWorker('feed-follower.mjs', { path, mode: 'consumer', name: 'b', until: COUNT })
    await writer.waitFor('done')
    await Promise.all([stream.waitFor('end'), resumed.waitFor('end')])
    checkpointer.send({ type: 'stop' })
    const checkpoints = await checkpointer.waitFor('done')

    // The plain stream: every seq exactly once, in order, across WAL resets.
    expect(seqsOf(stream, 'change')).toEqual(range(1, COUNT))
    // The consumer before the kill: a gap-free prefix.
    expect(delivered).toEqual(range(1, delivered.length))
    // After the restart: it starts right after the position it had stored — at or after the last ack it
    // reported (an ack can commit just before the kill without its report), never past what it had seen.
    const after = seqsOf(resumed, 'change')
    const restartedAt = (await resumed.waitFor('ready')).position as number
    expect(restartedAt).toBeGreaterThanOrEqual(lastAck)
    expect(restartedAt).toBeLessThanOrEqual(delivered.length)
    expect(after).toEqual(range(restartedAt + 1, COUNT))
    console.log(
      `change feed: ${COUNT} changes; consumer killed after ack ${lastAck} (had seen ${delivered.length}), resumed after ${restartedAt}; ` +
        `${checkpoints.done as number} foreign TRUNCATE checkpoints went through (${checkpoints.busy as number} busy)`,
    )
    expect(checkpoints.done as number).toBeGreaterThan(0)
  },
  LAST_RESORT_TIMEOUT_MS,
)
