// Benchmark 2: many inserts in flight at once in one process. Tandem's write queue runs them in
// batches of up to 1000 per transaction (group commit); raw better-sqlite3 commits each INSERT on
// its own (autocommit), which is what an application without a queue does. Measured twice: with
// durability 'normal' against synchronous=NORMAL, and with durability 'full' against
// synchronous=FULL, where every raw commit waits for an fsync.
import { join } from 'node:path'
import {
  ceilingCell,
  formatRate,
  log,
  median,
  openRaw,
  openTandem,
  rateFor,
  rawInserter,
  rawLogInserter,
  resultRow,
  sampleData,
} from './lib.mjs'

const BURST = 10_000
const WINDOW = 1000
const ROUND_MS = 1000
const ROUNDS = 3
const FULL_ROUNDS = 3

/** Issues BURST inserts at once, awaits them all, repeats until `ms` passed. Returns inserts/s. */
async function burstRate(items, ms) {
  const started = performance.now()
  let n = 0
  do {
    const inserts = []
    for (let i = 0; i < BURST; i++) inserts.push(items.insert(sampleData(i)))
    await Promise.all(inserts)
    n += BURST
  } while (performance.now() - started < ms)
  return n / ((performance.now() - started) / 1000)
}

/** Keeps WINDOW inserts in flight for `ms`: each one that resolves is replaced by a new one. */
async function windowRate(items, ms) {
  const started = performance.now()
  const end = started + ms
  let n = 0
  const lane = async () => {
    while (performance.now() < end) {
      await items.insert(sampleData(n))
      n++
    }
  }
  await Promise.all(Array.from({ length: WINDOW }, lane))
  return n / ((performance.now() - started) / 1000)
}

async function measureNormal(dir) {
  const raw = openRaw(join(dir, 'concurrent-raw.db'), { synchronous: 'NORMAL' })
  const insertRaw = rawInserter(raw)
  // The ceiling: record + change-log rows by hand, a full batch (1000) per transaction.
  const insertRawLogBatch = rawLogInserter(raw, 1000)
  const store = await openTandem(join(dir, 'concurrent-tandem.db'))
  const items = store.collection('items')
  try {
    await rateFor(300, (i) => insertRaw(sampleData(i)))
    await burstRate(items, 300)
    const rawRates = []
    const burstRates = []
    const windowRates = []
    const ceilingRates = []
    for (let round = 0; round < ROUNDS; round++) {
      rawRates.push(await rateFor(ROUND_MS, (i) => insertRaw(sampleData(i))))
      burstRates.push(await burstRate(items, ROUND_MS))
      windowRates.push(await windowRate(items, ROUND_MS))
      ceilingRates.push((await rateFor(ROUND_MS, (i) => insertRawLogBatch(i))) * 1000)
      log(
        `  round ${round + 1}: raw autocommit ${formatRate(rawRates.at(-1))}, tandem burst ${formatRate(burstRates.at(-1))}, window ${formatRate(windowRates.at(-1))}, raw record + change-log rows 1000 per transaction ${formatRate(ceilingRates.at(-1))}`,
      )
    }
    return { raw: median(rawRates), burst: median(burstRates), window: median(windowRates), ceiling: median(ceilingRates) }
  } finally {
    await store.close()
    raw.close()
  }
}

async function measureFull(dir) {
  const raw = openRaw(join(dir, 'concurrent-raw-full.db'), { synchronous: 'FULL' })
  const insertRaw = rawInserter(raw)
  const store = await openTandem(join(dir, 'concurrent-tandem-full.db'), { durability: 'full' })
  const items = store.collection('items')
  try {
    const rawRates = []
    const burstRates = []
    for (let round = 0; round < FULL_ROUNDS; round++) {
      rawRates.push(await rateFor(ROUND_MS, (i) => insertRaw(sampleData(i))))
      burstRates.push(await burstRate(items, ROUND_MS))
      log(`  round ${round + 1} (full): raw autocommit ${formatRate(rawRates.at(-1))}, tandem burst ${formatRate(burstRates.at(-1))}`)
    }
    return { raw: median(rawRates), burst: median(burstRates) }
  } finally {
    await store.close()
    raw.close()
  }
}

export async function runConcurrentInsert({ dir }) {
  log(`concurrent inserts: bursts of ${BURST.toLocaleString('en')} and a window of ${WINDOW} in flight, ${ROUNDS} rounds`)
  const normal = await measureNormal(dir)
  const full = await measureFull(dir)
  const row = (name, tandem, raw, goal, ceiling) =>
    resultRow({
      name,
      tandem: formatRate(tandem),
      raw: formatRate(raw),
      ratio: `${(tandem / raw).toFixed(2)}x`,
      goal: `>= ${goal}x raw`,
      pass: tandem / raw >= goal,
      ceiling: ceiling === undefined ? '' : ceilingCell(tandem, ceiling),
    })
  return {
    rows: [
      row(`2. ${BURST.toLocaleString('en')} inserts issued at once (inserts/s)`, normal.burst, normal.raw, 3, normal.ceiling),
      row(`2. ${WINDOW} inserts kept in flight (inserts/s)`, normal.window, normal.raw, 3, normal.ceiling),
      row(`2. ${BURST.toLocaleString('en')} at once, durability 'full' vs raw synchronous=FULL`, full.burst, full.raw, 10),
    ],
    details: { normal, full },
  }
}
