import { expect, test } from 'vitest'
import { BACKENDS } from '../helpers/backends.js'

// Reported while building issue #4: a loop of `await insert()` that never waits for a lock
// resolved through microtasks alone, so timers and IPC messages never ran until it ended.
test.each(BACKENDS.filter((b) => b.name === 'sqlite'))('a tight loop of awaited writes still lets timers run ($name)', async (backend) => {
  const store = await (await backend.tempStore())({ role: 'app', collections: { items: { writers: '*' } } })
  let stop = false
  let ticks = 0
  const timer = setInterval(() => ticks++, 5)
  setTimeout(() => (stop = true), 200)
  let writes = 0
  const started = performance.now()
  while (!stop && performance.now() - started < 5000) {
    await store.collection('items').insert({ n: writes++ })
  }
  clearInterval(timer)
  expect(performance.now() - started).toBeLessThan(2000)
  expect(ticks).toBeGreaterThan(5)
  expect(await store.collection('items').count()).toBe(writes)
})
