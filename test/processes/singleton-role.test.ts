import { join } from 'node:path'
import { expect, test } from 'vitest'
import { openStore } from '../../src/index.js'
import { tempDir } from '../helpers/backends.js'
import { LAST_RESORT_TIMEOUT_MS, forkWorker, type WorkerHandle } from '../helpers/processes.js'

async function start(path: string): Promise<WorkerHandle> {
  const worker = forkWorker('singleton.mjs', { path })
  await worker.waitFor('ready')
  return worker
}

const outcome = (w: WorkerHandle) => w.waitFor((m) => m.type === 'holder' || m.type === 'refused')

test(
  'a singleton role has one live holder: a second process is refused with its pid; after a SIGKILL exactly one of two racing newcomers takes over',
  async () => {
    const path = join(tempDir(), 'store.db')
    let holder = await start(path)
    holder.send({ type: 'go' })
    expect((await outcome(holder)).type).toBe('holder')

    const second = await start(path)
    second.send({ type: 'go' })
    const refused = await outcome(second)
    expect(refused).toMatchObject({ type: 'refused', error: { code: 'ROLE_TAKEN' } })
    expect((refused.error as { message: string }).message).toContain(`pid ${holder.pid}`)

    for (let round = 0; round < 4; round++) {
      holder.kill('SIGKILL')
      await holder.exited
      const racers = [await start(path), await start(path)]
      for (const r of racers) r.send({ type: 'go' })
      const results = await Promise.all(racers.map(outcome))
      const winners = racers.filter((_, i) => results[i]!.type === 'holder')
      expect(winners, `round ${round}: ${JSON.stringify(results)}`).toHaveLength(1)
      const loser = results.find((r) => r.type === 'refused')!
      expect((loser.error as { message: string }).message).toContain(`pid ${winners[0]!.pid}`)
      holder = winners[0]!
    }

    // A clean stop releases the role at once.
    holder.send({ type: 'stop' })
    await holder.exited
    const store = await openStore({ path, role: 'cli', collections: {} })
    expect((await store.processes()).map((p) => p.role)).toEqual(['cli'])
    await store.close()
  },
  LAST_RESORT_TIMEOUT_MS,
)
