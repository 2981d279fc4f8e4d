// One contending process of the PostgreSQL contention benchmark, started by pg-contention.mjs with
// child_process.fork. It opens its side (a Tandem store on PostgreSQL, or one raw node-postgres
// connection), says 'ready', waits for 'go', then increments the hot record with exactly one
// increment in flight for `durationMs`, and reports its figures.
import { Latencies, sendWorkerResult } from './lib.mjs'
import { openPgTandem, rawClient } from './pg-lib.mjs'

const HOT_ID = 'hot'

async function runTandem(schema, index) {
  const store = await openPgTandem(schema, { role: `worker${index}` })
  const items = store.collection('items')
  const increment = (data) => ({ ...data, n: data.n + 1 })
  return {
    close: () => store.close(),
    async step() {
      await items.update(HOT_ID, increment)
    },
    extra: () => ({ retries: store.backend.busyStats.retries }),
  }
}

/**
 * The same statements plus, in the COMMIT's message, what Tandem's backend appends for a change-log
 * entry (see appendChangesSql): the change-log lock, then the entry with the data at the seq after
 * the newest, and a NOTIFY. Not the goal's baseline; it tells Tandem's own cost from the change log's.
 */
function changeLogSql(schema, version, data) {
  const entry = JSON.stringify({ id: HOT_ID, version, role: 'bench', at: Date.now(), data }).replaceAll("'", "''")
  return `SELECT pg_advisory_xact_lock(4242);
    WITH base AS (SELECT coalesce((SELECT max(seq) FROM "${schema}".changes), 0) AS seq),
    added AS (INSERT INTO "${schema}".changes SELECT base.seq + 1, 'items', e->>'id', 'update', (e->>'version')::bigint, e->>'role', (e->>'at')::bigint, e->'data' FROM base, (SELECT '${entry}'::jsonb AS e) x)
    SELECT pg_notify('${schema}', seq::text) FROM base;
    COMMIT`
}

async function runRaw(schema, withLog) {
  // What an application writes by hand: a row lock, the read, the write, one transaction; each
  // statement prepared once on this connection, as the Tandem backend prepares its own.
  const client = await rawClient(`tandem-bench-raw-contention`)
  const select = { name: 'raw_select_for_update', text: `SELECT version, data FROM "${schema}".items WHERE id = $1 FOR UPDATE` }
  const update = { name: 'raw_update', text: `UPDATE "${schema}".items SET version = $1, updated_at = $2, data = $3 WHERE id = $4` }
  return {
    close: () => client.end(),
    async step() {
      await client.query('BEGIN')
      try {
        const { rows } = await client.query({ ...select, values: [HOT_ID] })
        const row = rows[0]
        const data = { ...row.data, n: row.data.n + 1 }
        await client.query({ ...update, values: [row.version + 1, Date.now(), JSON.stringify(data), HOT_ID] })
        await client.query(withLog ? changeLogSql(schema, row.version + 1, data) : 'COMMIT')
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined)
        throw error
      }
    },
    extra: () => ({}),
  }
}

const { mode, schema, durationMs, index } = JSON.parse(process.argv[2])
const worker = mode === 'tandem' ? await runTandem(schema, index) : await runRaw(schema, mode === 'raw+log')
process.once('message', async (message) => {
  if (message !== 'go') throw new Error(`pg-contention-worker expected 'go', got ${JSON.stringify(message)}`)
  const latencies = new Latencies()
  let counted = 0
  let completed = 0
  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  const end = started + durationMs
  for (let now = started; now < end;) {
    await worker.step()
    const done = performance.now()
    completed++
    if (done <= end) counted++
    latencies.add(done - now)
    now = done
  }
  const cpu = process.cpuUsage(cpuBefore)
  const extra = worker.extra()
  await worker.close()
  sendWorkerResult(index, latencies, cpu, { counted, completed, ...extra })
})
process.send({ type: 'ready', index })
