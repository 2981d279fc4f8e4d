import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { expect, test } from 'vitest'
import { BACKENDS } from '../helpers/backends.js'

// Found while profiling the change feed (issue #3): every time a stream waited for the next commit
// it raced the wait against one promise that lives as long as the stream, so each wait left a
// reaction on that promise until the stream closed: about 600 bytes per wait, without bound, in a
// daemon that follows changes for weeks. The stream is the same on both engines; SQLite runs it here
// because 16,000 awaited commits take a second on it, and `npm run soak:memory -- --backend
// postgres` checks PostgreSQL's wake-ups.
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

function heapAfterGc(): number {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

test.each(BACKENDS.filter((b) => b.name === 'sqlite'))(
  'a stream that waits for commits again and again keeps no memory per wait ($name)',
  async (backend) => {
    const store = await (await backend.tempStore())({ role: 'app', collections: { items: { writers: '*' } } })
    const feed = store.changes({ since: 'now' })
    let delivered = 0
    let written = 0
    const reader = (async () => {
      for await (const _change of feed) delivered++
    })()
    const items = store.collection('items')
    // Each insert is awaited and then the reader is given its turn, so it reads, finds the end of the
    // log and waits again: one wait per insert.
    const writeAndDeliver = async (n: number) => {
      for (let i = 0; i < n; i++) {
        await items.insert({ i })
        written++
        while (delivered < written) await new Promise((resolve) => setImmediate(resolve))
      }
    }
    await writeAndDeliver(1000)
    const before = heapAfterGc()
    await writeAndDeliver(15_000)
    const grown = heapAfterGc() - before
    console.log(`heap grew by ${(grown / 1e6).toFixed(2)} MB over 15,000 waits of an open stream`)
    expect(delivered).toBe(16_000)
    expect(grown).toBeLessThan(1.5e6)
    feed.close()
    await reader
  },
  60_000,
)
