// What a transaction leaves behind in the rest of the program. Tandem tells calls made inside a
// transaction callback apart with an AsyncLocalStorage; on Node 20 a running one keeps promise
// hooks on, which makes every promise of the whole program costlier. Tandem switches it off when
// the last transaction callback ends. Measured in a child process of its own (the hooks are
// process-wide): the time of an application's await loop before the store is used, after a
// transaction, and, as the baseline of what was avoided, with an AsyncLocalStorage left running.
import { fork } from 'node:child_process'
import { AsyncLocalStorage } from 'node:async_hooks'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { log, median, openTandem, resultRow, tempDir } from './lib.mjs'

const AWAITS = 1_000_000
const ROUNDS = 5

/** Milliseconds for AWAITS awaits: the promise cost every async program pays. */
async function awaitLoop() {
  const started = performance.now()
  let sum = 0
  for (let i = 0; i < AWAITS; i++) sum += await i
  if (sum < 0) throw new Error('unreachable')
  return performance.now() - started
}

async function timed() {
  const times = []
  for (let i = 0; i < ROUNDS; i++) times.push(await awaitLoop())
  return median(times)
}

async function child(path) {
  await awaitLoop() // warm-up
  const before = await timed()
  const store = await openTandem(path)
  await store.transaction(async (tx) => {
    await tx.collection('items').insert({ n: 1 })
  })
  const after = await timed()
  new AsyncLocalStorage().run(true, () => {})
  const leftOn = await timed()
  await store.close()
  process.send({ before, after, leftOn })
}

export async function runAfterTransaction({ dir } = {}) {
  const own = dir === undefined ? tempDir() : undefined
  const path = join(dir ?? own.dir, 'after-transaction.db')
  try {
    log(`after a transaction: ${AWAITS.toLocaleString('en-US')} awaits of the application, median of ${ROUNDS}`)
    const result = await new Promise((resolve, reject) => {
      const worker = fork(fileURLToPath(import.meta.url), ['--child', path])
      worker.once('message', resolve)
      worker.once('error', reject)
      worker.once('exit', (code) => code === 0 || reject(new Error(`after-transaction child exited with ${code}`)))
    })
    const ms = (v) => `${v.toFixed(0)} ms`
    log(
      `  before the store was used ${ms(result.before)}, after a transaction ${ms(result.after)}, with the context left running ${ms(result.leftOn)}`,
    )
    const ratio = result.after / result.before
    return {
      rows: [
        resultRow({
          name: '5. app await loop after a transaction (time, lower is better)',
          tandem: `${ms(result.after)} (before: ${ms(result.before)})`,
          raw: `${ms(result.leftOn)} (context left running)`,
          ratio: `${ratio.toFixed(2)}x`,
          goal: '<= 1.2x of before',
          pass: ratio <= 1.2,
        }),
      ],
      details: result,
    }
  } finally {
    own?.remove()
  }
}

if (process.argv[2] === '--child') await child(process.argv[3])
