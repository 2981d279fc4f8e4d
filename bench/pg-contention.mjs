// PostgreSQL benchmark 1: the hot record. Four forked processes each keep exactly one increment of
// one record in flight: Tandem's `update(id, fn)` on a PostgreSQL store, against raw node-postgres
// `BEGIN; SELECT … FOR UPDATE; UPDATE; COMMIT` on a table of the same shape. Rounds alternate
// between the sides (a burst of noise from other jobs hits all); the figure is the median. A third
// side, raw+log, adds to raw the change-log append Tandem makes in its COMMIT: it is not the goal's
// baseline, it shows how much of the gap is the change log and how much Tandem's own layer.
// Goal (issue #6): Tandem >= 0.9x raw.
import { fileURLToPath } from 'node:url'
import { formatMs, formatRate, log, runWorkers, median, resultRow } from './lib.mjs'
import { benchSchema, createRawTable, dropSchemas, openPgTandem, withClient } from './pg-lib.mjs'

const WORKER = fileURLToPath(new URL('./pg-contention-worker.mjs', import.meta.url))
const ROUNDS = 5
/** 'raw+log' is raw plus a change-log append like Tandem's: not the goal, it splits Tandem's cost. */
const MODES = ['tandem', 'raw', 'raw+log']

async function seed(mode, schema) {
  if (mode !== 'tandem') {
    await createRawTable(schema)
    await withClient(async (c) => {
      await c.query(`INSERT INTO "${schema}".items VALUES ('hot', 1, 0, 0, 'bench', '{"n":0}')`)
      // For 'raw+log': a change log shaped like Tandem's.
      await c.query(
        `CREATE TABLE "${schema}".changes (seq bigint PRIMARY KEY, collection text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL, op text NOT NULL, version bigint NOT NULL, role text COLLATE "C" NOT NULL, at bigint NOT NULL, data jsonb)`,
      )
    })
  } else {
    const store = await openPgTandem(schema)
    await store.collection('items').insert({ n: 0 }, { id: 'hot' })
    await store.close()
  }
}

async function finalCount(mode, schema) {
  return withClient(async (c) => (await c.query(`SELECT data FROM "${schema}".items WHERE id = 'hot'`)).rows[0].data.n)
}

/** Forks `processes` workers, starts them together with an IPC 'go', and collects their results. */
function summarize(results, durationMs) {
  const counted = results.reduce((sum, r) => sum + r.counted, 0)
  return {
    perSecond: counted / (durationMs / 1000),
    completed: results.reduce((sum, r) => sum + r.completed, 0),
    slowestShare: Math.min(...results.map((r) => r.counted)) / counted,
    p99LatencyMs: Math.max(...results.map((r) => r.p99LatencyMs)),
    maxLatencyMs: Math.max(...results.map((r) => r.maxLatencyMs)),
    retries: results.reduce((sum, r) => sum + (r.retries ?? 0), 0),
    cpuPercent: (results.reduce((sum, r) => sum + r.cpuMs, 0) / durationMs) * 100,
    perProcess: results.map((r) => r.counted),
  }
}

export async function runPostgresContention({ processes = 4, durationMs = 3000 } = {}) {
  log(`postgres contention: ${processes} processes x ${durationMs / 1000} s, ${ROUNDS} rounds alternating Tandem and raw`)
  const schemas = { tandem: benchSchema('hot_tandem'), raw: benchSchema('hot_raw'), 'raw+log': benchSchema('hot_rawlog') }
  const rounds = { tandem: [], raw: [], 'raw+log': [] }
  try {
    for (const mode of MODES) await seed(mode, schemas[mode])
    const completed = { tandem: 0, raw: 0, 'raw+log': 0 }
    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of MODES) {
        const summary = summarize(await runWorkers(WORKER, processes, () => ({ mode, schema: schemas[mode], durationMs })), durationMs)
        rounds[mode].push(summary)
        completed[mode] += summary.completed
        log(
          `  round ${round + 1} ${mode.padEnd(7)} ${formatRate(summary.perSecond)}, per process ${summary.perProcess.join('/')}, p99 ${formatMs(summary.p99LatencyMs)}, max ${formatMs(summary.maxLatencyMs)}, CPU ${summary.cpuPercent.toFixed(0)}% of a core${mode === 'tandem' ? `, ${summary.retries} re-runs` : ''}`,
        )
      }
    }
    // No lost update on either side: the counter holds exactly the increments that committed.
    for (const mode of MODES) {
      const n = await finalCount(mode, schemas[mode])
      if (n !== completed[mode])
        throw new Error(`postgres ${mode}: the hot record says ${n} increments, the workers committed ${completed[mode]}: lost updates`)
    }
  } finally {
    await dropSchemas(...Object.values(schemas))
  }
  const tandem = median(rounds.tandem.map((r) => r.perSecond))
  const raw = median(rounds.raw.map((r) => r.perSecond))
  const rawLog = median(rounds['raw+log'].map((r) => r.perSecond))
  log(
    `  medians: tandem ${formatRate(tandem)}, raw ${formatRate(raw)}, raw+log ${formatRate(rawLog)} (${(tandem / rawLog).toFixed(2)}x of raw with the same change-log append)`,
  )
  const ratio = tandem / raw
  return {
    rows: [
      resultRow({
        name: `pg 1. hot record: increments/s (${processes} procs, 1 in flight each)`,
        tandem: formatRate(tandem),
        raw: `${formatRate(raw)} (SELECT … FOR UPDATE; raw + change log ${formatRate(rawLog)})`,
        ratio: `${ratio.toFixed(2)}x`,
        goal: '>= 0.9x raw',
        pass: ratio >= 0.9,
      }),
    ],
    details: rounds,
  }
}
