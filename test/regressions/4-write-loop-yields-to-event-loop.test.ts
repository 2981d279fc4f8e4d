import { expect, test } from 'vitest'
import { BACKENDS } from '../helpers/backends.js'

// Reported while building issue #4: a loop of `await insert()` that never waits for a lock
// resolved through microtasks alone, so timers and IPC messages never ran until it ended.
//
// The loop runs until a 5 ms interval timer has fired TICKS times, which only happens if the loop
// lets timers run. Nothing is timed: on a loaded machine the timer fires later and the loop simply
// writes more. The loop also stops after MAX_WRITES, which a loop that starves timers reaches
// instead (and fails); a loop that lets them run stops long before (a few hundred writes at most).
const TICKS = 10
const MAX_WRITES = 200_000

test.each(BACKENDS.filter((b) => b.name === 'sqlite'))(
  'a tight loop of awaited writes still lets timers run ($name)',
  async (backend) => {
    const store = await (await backend.tempStore())({ role: 'app', collections: { items: { writers: '*' } } })
    let ticks = 0
    const timer = setInterval(() => ticks++, 5)
    let writes = 0
    try {
      while (ticks < TICKS && writes < MAX_WRITES) {
        await store.collection('items').insert({ n: writes++ })
      }
    } finally {
      clearInterval(timer)
    }
    expect(ticks, `the timer fired only ${ticks} times in ${writes} awaited writes`).toBeGreaterThanOrEqual(TICKS)
    expect(writes).toBeGreaterThan(0)
    expect(await store.collection('items').count()).toBe(writes)
  },
  120_000,
)
