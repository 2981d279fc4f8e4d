// Benchmark 1: single-row inserts from one process, one insert in flight at a time (each awaited),
// against raw better-sqlite3 autocommit INSERTs. Every Tandem insert is its own transaction here:
// group commit has nothing to group, so this measures Tandem's fixed cost per write.
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

const ROUND_MS = 1000
const ROUNDS = 3
const WARMUP_MS = 300

export async function runSingleInsert({ dir }) {
  log(`single insert: ${ROUNDS} rounds of ${ROUND_MS} ms each side, alternating`)
  const raw = openRaw(join(dir, 'single-raw.db'), { synchronous: 'NORMAL' })
  const insertRaw = rawInserter(raw)
  const insertRawLog = rawLogInserter(raw)
  const store = await openTandem(join(dir, 'single-tandem.db'))
  const items = store.collection('items')
  try {
    await rateFor(WARMUP_MS, (i) => insertRaw(sampleData(i)))
    await rateFor(WARMUP_MS, (i) => items.insert(sampleData(i)))
    const rawRates = []
    const tandemRates = []
    const rawLogRates = []
    // Alternate the two sides so a burst of noise on the machine hits both alike; report medians.
    for (let round = 0; round < ROUNDS; round++) {
      rawRates.push(await rateFor(ROUND_MS, (i) => insertRaw(sampleData(i))))
      tandemRates.push(await rateFor(ROUND_MS, (i) => items.insert(sampleData(i))))
      rawLogRates.push(await rateFor(ROUND_MS, (i) => insertRawLog(i)))
      log(
        `  round ${round + 1}: raw ${formatRate(rawRates.at(-1))}, tandem ${formatRate(tandemRates.at(-1))}, raw record + change-log row ${formatRate(rawLogRates.at(-1))}`,
      )
    }
    const tandem = median(tandemRates)
    const rawRate = median(rawRates)
    const ratio = tandem / rawRate
    return {
      rows: [
        resultRow({
          name: '1. single insert, 1 in flight (commits/s)',
          tandem: formatRate(tandem),
          raw: formatRate(rawRate),
          ratio: `${ratio.toFixed(2)}x`,
          goal: '>= 0.5x raw',
          pass: ratio >= 0.5,
          ceiling: ceilingCell(tandem, median(rawLogRates)),
        }),
      ],
      details: { tandemRates, rawRates, rawLogRates },
    }
  } finally {
    await store.close()
    raw.close()
  }
}
