// Server faults against the local PostgreSQL cluster (issue #24): several writer processes, a
// watch() subscriber, a changes() reader and a durable consumer, while the server's sessions are
// terminated, it is restarted (fast, immediate), down for 30 s, a table is locked for 10 s, the
// store's role gets low statement/idle timeouts, and all but one connection slot is taken. After
// each fault it prints: acknowledged writes, errors by code, recovery time, missed/duplicated
// changes; at the end every acknowledged write is checked. The cluster is ALWAYS left running.
//
//   npm run torture:pg-faults [-- --writers 3 --down-ms 30000 --only terminate,fast]
//
// Restarts the server: never run it while other PostgreSQL tests run against the same cluster.
import { execFileSync, fork } from 'node:child_process'
import { parseArgs } from 'node:util'
import pg from 'pg'

const ADMIN_URL = process.env.TANDEM_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const ROLE = 'tandem_faults'
const SCHEMA = 'tandem_faults'
const STORE_URL = (() => {
  const u = new URL(ADMIN_URL)
  u.username = ROLE
  u.password = ''
  return u.toString()
})()
const collections = { events: { writers: '*' }, counters: { writers: '*' } }
const storeConfig = (role) => ({ url: STORE_URL, postgres: { schema: SCHEMA, poolSize: 4 }, role, collections, busyTimeoutMs: 5000 })
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const send = (message) => process.send?.(message)
const codeOf = (error) => error?.code ?? `raw:${error?.name ?? typeof error}`

// --- child processes -------------------------------------------------------------------------

async function writer(name) {
  const { openStore } = await import('../dist/index.js')
  const store = await openStore(storeConfig(name))
  const events = store.collection('events')
  const counters = store.collection('counters')
  let stopping = false
  process.on('message', (m) => m === 'stop' && (stopping = true))
  send({ type: 'ready' })
  let n = 0
  const loop = async (kind) => {
    while (!stopping) {
      const k = ++n
      try {
        if (kind === 'insert') {
          const id = `${name}-${k}`
          await events.insert({ writer: name, k }, { id })
          send({ type: 'ack', op: 'insert', id, at: Date.now() })
        } else {
          await counters.update('hot', (d) => ({ n: d.n + 1 }))
          send({ type: 'ack', op: 'inc', at: Date.now() })
        }
      } catch (error) {
        send({ type: 'error', op: kind, code: codeOf(error), id: kind === 'insert' ? `${name}-${k}` : undefined, at: Date.now() })
        await sleep(20)
      }
      await sleep(20)
    }
  }
  await Promise.all([loop('insert'), loop('insert'), loop('inc')])
  await store.close().catch(() => undefined)
  send({ type: 'done' })
  process.exit(0)
}

async function subscriber(kind) {
  const { openStore } = await import('../dist/index.js')
  const store = await openStore(storeConfig(kind))
  const state = (e) => send({ type: 'state', state: e, at: Date.now() })
  const onInterrupted = (e) =>
    e?.code === 'FEED_INTERRUPTED' ? state('interrupted') : send({ type: 'error', op: kind, code: codeOf(e), at: Date.now() })
  const onResume = () => state('resumed')
  const deliver = (c) => send({ type: 'change', seq: c.seq, at: Date.now() })
  process.on('message', async (m) => {
    if (m !== 'stop') return
    await store.close().catch(() => undefined)
    send({ type: 'done' })
    process.exit(0)
  })
  if (kind === 'watch') {
    store.collection('events').watch(deliver, { since: 'beginning', onError: onInterrupted, onResume })
    send({ type: 'ready' })
    return
  }
  send({ type: 'ready' })
  if (kind === 'reader') {
    for await (const c of store.changes({ collections: ['events'], since: 'beginning', onInterrupted, onResume })) deliver(c)
    return
  }
  const consumer = store.consumer('faults', { collections: ['events'], start: 'beginning', onInterrupted, onResume, leaseMs: 60_000 })
  for (;;) {
    try {
      for await (const c of await consumer.changes()) {
        deliver(c)
        // Acks fail while the server is away: retried until they go through (at-least-once past the last ack).
        for (;;) {
          try {
            await consumer.ack(c.seq)
            break
          } catch (error) {
            send({ type: 'error', op: 'ack', code: codeOf(error), at: Date.now() })
            await sleep(200)
          }
        }
      }
      return
    } catch (error) {
      send({ type: 'error', op: 'consumer', code: codeOf(error), at: Date.now() })
      await sleep(500)
    }
  }
}

// --- the supervisor --------------------------------------------------------------------------

function ctl(...args) {
  execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', '15', 'main', ...args], { stdio: 'ignore' })
}

async function admin(work) {
  const client = new pg.Client({ connectionString: ADMIN_URL, application_name: 'tandem-faults-admin' })
  client.on('error', () => undefined)
  await client.connect()
  try {
    return await work(client)
  } finally {
    await client.end().catch(() => undefined)
  }
}

async function adminRetrying(work, ms = 60_000) {
  const until = Date.now() + ms
  for (;;) {
    try {
      return await admin(work)
    } catch (error) {
      if (Date.now() > until) throw error
      await sleep(200)
    }
  }
}

const storeSessions = `application_name IN ('tandem:${SCHEMA}', 'tandem-listen:${SCHEMA}')`

function start(kind, name) {
  const child = fork(new URL(import.meta.url), ['--child', kind, '--name', name], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const proc = { kind, name, child, changes: [], events: [] }
  child.on('message', (m) => {
    if (m.type === 'change') proc.changes.push(m.seq)
    else proc.events.push(m)
  })
  proc.ready = new Promise((resolve) => child.on('message', (m) => m.type === 'ready' && resolve()))
  proc.exited = new Promise((resolve) => child.on('exit', resolve))
  return proc
}

const FAULTS = {
  async terminate() {
    for (let i = 0; i < 6; i++) {
      await admin((c) =>
        c.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE ${storeSessions} AND pid <> pg_backend_pid() ORDER BY random() LIMIT 3`,
        ),
      )
      await sleep(200 + Math.random() * 600)
    }
  },
  async fast() {
    ctl('restart', '-m', 'fast')
  },
  async immediate() {
    ctl('restart', '-m', 'immediate')
  },
  async down(options) {
    ctl('stop', '-m', 'fast')
    await sleep(options.downMs)
    ctl('start')
  },
  async lock() {
    const client = new pg.Client({ connectionString: ADMIN_URL })
    client.on('error', () => undefined)
    await client.connect()
    await client.query('BEGIN')
    await client.query(`LOCK TABLE "${SCHEMA}"."events" IN ACCESS EXCLUSIVE MODE`)
    await sleep(10_000)
    await client.query('ROLLBACK')
    await client.end()
  },
  async timeouts() {
    await admin(async (c) => {
      await c.query(`ALTER ROLE ${ROLE} SET statement_timeout = '20ms'`)
      await c.query(`ALTER ROLE ${ROLE} SET idle_in_transaction_session_timeout = '30ms'`)
      // Existing sessions keep their settings: make the store reconnect.
      await c.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE ${storeSessions}`)
    })
    try {
      await sleep(6000)
    } finally {
      await resetRole()
    }
  },
  async slots() {
    const { max, reserved, used } = await admin(async (c) => {
      const r = await c.query(
        `SELECT current_setting('max_connections')::int AS max, current_setting('superuser_reserved_connections')::int AS reserved, (SELECT count(*)::int FROM pg_stat_activity WHERE backend_type = 'client backend') AS used`,
      )
      return r.rows[0]
    })
    // A non-superuser may use max - reserved slots; leave it exactly one.
    const take = Math.max(0, max - reserved - used - 1)
    const held = []
    for (let i = 0; i < take; i++) {
      const c = new pg.Client({ connectionString: ADMIN_URL, application_name: 'tandem-faults-slot' })
      c.on('error', () => undefined)
      try {
        await c.connect()
        held.push(c)
      } catch {
        break
      }
    }
    await sleep(8000)
    await Promise.all(held.map((c) => c.end().catch(() => undefined)))
    return { slotsTaken: held.length }
  },
}

async function resetRole() {
  await adminRetrying(async (c) => {
    await c.query(`ALTER ROLE ${ROLE} RESET statement_timeout`)
    await c.query(`ALTER ROLE ${ROLE} RESET idle_in_transaction_session_timeout`)
  })
}

function ensureRunning() {
  try {
    ctl('start')
  } catch {
    // Already running.
  }
}

async function main() {
  const { values } = parseArgs({
    options: { writers: { type: 'string', default: '3' }, 'down-ms': { type: 'string', default: '30000' }, only: { type: 'string' } },
  })
  const options = { downMs: Number(values['down-ms']) }
  const order = values.only?.split(',') ?? ['terminate', 'fast', 'immediate', 'down', 'lock', 'timeouts', 'slots']
  const procs = []
  let failed = false
  process.on('SIGINT', () => {
    ensureRunning()
    process.exit(130)
  })
  try {
    await adminRetrying(async (c) => {
      await c.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`)
      const exists = await c.query(`SELECT 1 FROM pg_roles WHERE rolname = $1`, [ROLE])
      if (exists.rowCount === 0) await c.query(`CREATE ROLE ${ROLE} LOGIN`)
      await c.query(`GRANT CREATE ON DATABASE ${new URL(ADMIN_URL).pathname.slice(1) || 'test'} TO ${ROLE}`)
    })
    await resetRole()
    const { openStore } = await import('../dist/index.js')
    const setup = await openStore(storeConfig('setup'))
    await setup.collection('counters').insert({ n: 0 }, { id: 'hot' })
    await setup.close()

    for (let i = 0; i < Number(values.writers); i++) procs.push(start('writer', `w${i}`))
    const subs = ['watch', 'reader', 'consumer'].map((k) => start(k, k))
    procs.push(...subs)
    await Promise.all(procs.map((p) => p.ready))
    const writers = procs.filter((p) => p.kind === 'writer')
    const all = () => procs.flatMap((p) => p.events)
    // The steady count is what the pools use under this load before any fault: sampled over a
    // few seconds of writing (a busy pool may keep a second connection in rotation).
    let steady = 0
    for (let i = 0; i < 20; i++) {
      await sleep(250)
      steady = Math.max(
        steady,
        await admin(async (c) => (await c.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE ${storeSessions}`)).rows[0].n),
      )
    }

    const results = []
    for (const name of order) {
      const acksBefore = all().filter((e) => e.type === 'ack').length
      const started = Date.now()
      const extra = (await FAULTS[name](options)) ?? {}
      const ended = Date.now()
      ensureRunning()
      // Recovered: every writer acked after the fault ended and every subscriber holds the head.
      const head = async () =>
        adminRetrying(
          async (c) =>
            (await c.query(`SELECT coalesce(max(seq), 0)::int AS h FROM "${SCHEMA}"."_tandem_changes" WHERE collection = 'events'`)).rows[0]
              .h,
        )
      let recoveredAt
      let writersBackAt
      for (const deadline = Date.now() + 90_000; Date.now() < deadline; await sleep(100)) {
        writersBackAt ??= writers.every((w) => w.events.some((e) => e.type === 'ack' && e.at > ended)) ? Date.now() : undefined
        if (writersBackAt === undefined) continue
        const h = await head()
        if (subs.every((s) => s.changes.includes(h))) {
          recoveredAt = Date.now()
          break
        }
      }
      const phase = all().filter((e) => e.at >= started)
      const errors = {}
      for (const e of phase) if (e.type === 'error') errors[`${e.op}:${e.code}`] = (errors[`${e.op}:${e.code}`] ?? 0) + 1
      const states = subs.map(
        (s) =>
          `${s.kind}:${s.events
            .filter((e) => e.type === 'state' && e.at >= started)
            .map((e) => e.state[0])
            .join('')}`,
      )
      const logSeqs = await adminRetrying(async (c) =>
        (await c.query(`SELECT seq::int FROM "${SCHEMA}"."_tandem_changes" WHERE collection = 'events' ORDER BY seq`)).rows.map(
          (r) => r.seq,
        ),
      )
      const feed = subs.map((s) => `${s.kind} ${feedCheck(s.changes, logSeqs)}`)
      if (subs.some((s) => !feedCheck(s.changes, logSeqs).endsWith('missed 0, dup 0, disorder 0'))) failed = true
      const connections = await admin(
        async (c) => (await c.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE ${storeSessions}`)).rows[0].n,
      )
      const r = {
        fault: name,
        faultMs: ended - started,
        acked: all().filter((e) => e.type === 'ack').length - acksBefore,
        errors,
        writersBackMs: writersBackAt === undefined ? 'never' : writersBackAt - ended,
        recoveryMs: recoveredAt === undefined ? 'never' : recoveredAt - ended,
        feed: feed.join('; '),
        feedStates: states.join(' '),
        connections: `${connections} (steady ${steady})`,
        ...extra,
      }
      results.push(r)
      console.log(JSON.stringify(r))
      if (recoveredAt === undefined || Object.keys(errors).some((k) => k.includes(':raw:'))) failed = true
      await sleep(2000)
    }

    // The pools keep connections opened during a fault for their idle timeout (30 s), then close
    // them: the count must come back to its steady value with the processes still running.
    const settleStarted = Date.now()
    let settled
    for (const deadline = Date.now() + 75_000; Date.now() < deadline; await sleep(1000)) {
      const n = await admin(
        async (c) => (await c.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE ${storeSessions}`)).rows[0].n,
      )
      if (n <= steady) {
        settled = { connections: n, steady, settledMs: Date.now() - settleStarted }
        break
      }
    }
    console.log(JSON.stringify({ connectionsAfterFaults: settled ?? `still above the steady ${steady} after 75 s` }))
    if (settled === undefined) failed = true

    // Stop everyone, then check the data against what was acknowledged.
    for (const p of procs) p.child.send('stop')
    await Promise.race([Promise.all(procs.map((p) => p.exited)), sleep(20_000)])
    const events = all()
    const ackedIds = events.filter((e) => e.type === 'ack' && e.op === 'insert').map((e) => e.id)
    const failedIds = events.filter((e) => e.type === 'error' && e.op === 'insert' && e.code !== 'OUTCOME_UNKNOWN').map((e) => e.id)
    const unknownIncs = events.filter((e) => e.type === 'error' && e.op === 'inc' && e.code === 'OUTCOME_UNKNOWN').length
    const ackedIncs = events.filter((e) => e.type === 'ack' && e.op === 'inc').length
    const final = await admin(async (c) => {
      const ids = new Set((await c.query(`SELECT id FROM "${SCHEMA}"."events"`)).rows.map((r) => r.id))
      const hot = (await c.query(`SELECT (data->>'n')::int AS n FROM "${SCHEMA}"."counters" WHERE id = 'hot'`)).rows[0].n
      return { ids, hot }
    })
    const lost = ackedIds.filter((id) => !final.ids.has(id))
    const ghosts = failedIds.filter((id) => final.ids.has(id))
    const incOk = final.hot >= ackedIncs && final.hot <= ackedIncs + unknownIncs
    const summary = {
      ackedInserts: ackedIds.length,
      lost: lost.length,
      definitelyFailedPresent: ghosts.length,
      ackedIncrements: ackedIncs,
      unknownIncrements: unknownIncs,
      hot: final.hot,
      incrementsExact: incOk,
    }
    console.log(JSON.stringify({ summary }))
    if (lost.length > 0 || ghosts.length > 0 || !incOk) failed = true
    for (const p of procs) p.child.kill('SIGKILL')
  } catch (error) {
    failed = true
    console.error(error)
  } finally {
    for (const p of procs) p.child.kill('SIGKILL')
    ensureRunning()
    await resetRole().catch(() => undefined)
  }
  console.log(failed ? 'FAIL' : 'PASS')
  process.exit(failed ? 1 : 0)
}

/** Missed and duplicated seqs of one subscriber: the log is gap-free, so 1..max must each come once, in order. */
function feedCheck(seqs, logSeqs) {
  const got = new Set(seqs)
  const last = seqs.at(-1) ?? 0
  const missed = logSeqs.filter((q) => q <= last && !got.has(q)).length
  const seen = new Set()
  let dup = 0
  let disorder = 0
  for (let i = 0; i < seqs.length; i++) {
    if (seen.has(seqs[i])) dup++
    seen.add(seqs[i])
    if (i > 0 && seqs[i] <= seqs[i - 1]) disorder++
  }
  return `got ${seqs.length}, missed ${missed}, dup ${dup}, disorder ${disorder}`
}

const { values: childArgs } = parseArgs({
  options: {
    child: { type: 'string' },
    name: { type: 'string' },
    writers: { type: 'string' },
    'down-ms': { type: 'string' },
    only: { type: 'string' },
  },
  strict: false,
})
if (childArgs.child === 'writer') await writer(childArgs.name)
else if (childArgs.child !== undefined) await subscriber(childArgs.child)
else await main()
