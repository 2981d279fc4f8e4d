// The stores the harness can torture, one entry each. An entry says where a run's store lives,
// how a process opens it (the fragment of openStore's config), whether its change-log seqs are
// gap-free, and the faults only that engine has. Faults every engine shares (SIGKILL, restarts)
// live in nemesis.mjs. A new backend joins with one entry here; its faults with one more field.
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'

/**
 * @typedef {object} Fault
 * @property {number} everyMs       default interval between two injections (jittered by the nemesis)
 * @property {(location: object) => Promise<object>} setup     runs once in the nemesis process
 * @property {(state: object, random: object) => Promise<object>} inject  one injection; resolves with what it did
 * @property {(state: object) => Promise<void>} teardown
 *
 * @typedef {object} TortureBackend
 * @property {string} description
 * @property {boolean} gapFreeSeq   change-log seqs are 1, 2, 3... with no holes (both engines: PostgreSQL gives seqs out at commit, under a lock)
 * @property {() => Promise<{ code: 'NOT_BUILT' | 'UNREACHABLE', reason: string } | undefined>} available
 *           undefined when a run can start; else why not: the backend is not in dist/ yet
 *           (NOT_BUILT), or its server does not answer (UNREACHABLE)
 * @property {(runDir: string, seed: number) => Promise<object>} create  a fresh, empty location for one run (JSON)
 * @property {(location: object, role: string) => object} storeConfig  what a process adds to openStore's config
 * @property {(location: object) => Promise<void>} destroy
 * @property {(location: object) => Promise<number>} size  bytes the store takes on disk now
 * @property {Record<string, Fault>} faults
 */

/** @type {TortureBackend} */
const sqlite = {
  description: 'embedded SQLite file (WAL), shared by every process',
  gapFreeSeq: true,
  async available() {
    return undefined
  },
  async create(runDir) {
    const dataDir = join(runDir, 'store')
    mkdirSync(dataDir, { recursive: true })
    return { dataDir, file: join(dataDir, 'store.db') }
  },
  storeConfig(location) {
    return { dataDir: location.dataDir, path: 'store.db' }
  },
  async destroy(location) {
    rmSync(location.dataDir, { recursive: true, force: true })
  },
  async size(location) {
    let bytes = 0
    for (const name of readdirSync(location.dataDir)) bytes += statSync(join(location.dataDir, name)).size
    return bytes
  },
  faults: {
    // A foreign connection forces a TRUNCATE checkpoint: the WAL is copied back and cut to zero
    // bytes under every reader, writer and change-feed watcher. Each injection opens and closes its
    // own connection; when it is the last one open (all workers just killed), closing it also
    // checkpoints and deletes the WAL file, which the next opener must recreate.
    checkpoint: {
      everyMs: 500,
      async setup(location) {
        const { default: Database } = await import('better-sqlite3')
        return { Database, file: location.file, done: 0, busy: 0 }
      },
      async inject(state, random) {
        if (!existsSync(state.file)) return { skipped: 'no store file yet' }
        const db = new state.Database(state.file)
        try {
          // A short busy timeout: long enough to win now and then against steady readers, short
          // enough not to stall the nemesis's other faults.
          db.pragma(`busy_timeout = ${random.int(0, 20)}`)
          const [result] = db.pragma('wal_checkpoint(TRUNCATE)')
          if (result.busy === 0) state.done++
          else state.busy++
          return { busy: result.busy, log: result.log, checkpointed: result.checkpointed }
        } catch (error) {
          state.busy++
          return { error: error.code ?? String(error.message) }
        } finally {
          db.close()
        }
      },
      async teardown() {},
    },
  },
}

const PG_URL = process.env.TANDEM_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

function withApplicationName(url, name) {
  return `${url}${url.includes('?') ? '&' : '?'}application_name=${encodeURIComponent(name)}`
}

async function pgClient(url) {
  const { default: pg } = await import('pg')
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  return client
}

/** @type {TortureBackend} */
const postgres = {
  description: `PostgreSQL server (${PG_URL.replace(/:[^:@/]*@/, ':***@')}), one schema per run`,
  gapFreeSeq: true,
  async available() {
    // The backend must exist in dist/ and open a store; the server must answer.
    const { openStore } = await import('../dist/index.js')
    const schema = `torture_probe_${process.pid}`
    let store
    try {
      store = await openStore({ url: PG_URL, postgres: { schema }, role: 'probe', collections: { kv: { writers: '*' } } })
    } catch (error) {
      const message = String(error?.message ?? error)
      if (/not built|not available|Cannot find (module|package)/i.test(message)) {
        return {
          code: 'NOT_BUILT',
          reason: `backend not available: the PostgreSQL backend (src/backends/postgres) cannot open a store yet (${message}). Build it, then npm run build.`,
        }
      }
      return {
        code: 'UNREACHABLE',
        reason: `backend not available: PostgreSQL at ${PG_URL} did not open a store (${message}). Start it, or set TANDEM_PG_URL.`,
      }
    } finally {
      await store?.close()
    }
    const client = await pgClient(PG_URL)
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).finally(() => client.end())
    return undefined
  },
  async create(_runDir, seed) {
    return { url: PG_URL, schema: `torture_${seed}_${process.pid}` }
  },
  storeConfig(location, role) {
    // application_name lets the nemesis find (and terminate) exactly this run's connections, and
    // no other run's on the same server.
    return { url: withApplicationName(location.url, `${location.schema}-${role}`), postgres: { schema: location.schema } }
  },
  async destroy(location) {
    const client = await pgClient(location.url)
    await client.query(`DROP SCHEMA IF EXISTS ${location.schema} CASCADE`).finally(() => client.end())
  },
  async size(location) {
    const client = await pgClient(location.url)
    try {
      const { rows } = await client.query(
        `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint AS bytes FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind IN ('r', 'm')`,
        [location.schema],
      )
      return Number(rows[0].bytes)
    } finally {
      await client.end()
    }
  },
  faults: {
    // PostgreSQL's own checkpoint, forced: flushes every dirty buffer while the workers write.
    checkpoint: {
      everyMs: 1500,
      async setup(location) {
        return { client: await pgClient(location.url) }
      },
      async inject(state) {
        await state.client.query('CHECKPOINT')
        return {}
      },
      async teardown(state) {
        await state.client.end()
      },
    },
    // pg_terminate_backend on one of our connections (a worker's pool or a change listener's), or
    // on all of them: the server side of a network cut. Writes in flight end with an error whose
    // outcome may be unknown; listeners must reconnect without skipping a change.
    terminate: {
      everyMs: 700,
      async setup(location) {
        return { client: await pgClient(location.url), prefix: `${location.schema}-`, done: 0 }
      },
      async inject(state, random) {
        const { rows } = await state.client.query(
          `SELECT pid, application_name FROM pg_stat_activity WHERE starts_with(application_name, $1) AND pid <> pg_backend_pid()`,
          [state.prefix],
        )
        if (rows.length === 0) return { terminated: 0 }
        const victims = random.chance(0.2) ? rows : [random.pick(rows)]
        for (const row of victims) await state.client.query('SELECT pg_terminate_backend($1)', [row.pid])
        state.done += victims.length
        return { terminated: victims.length, who: victims.map((r) => r.application_name) }
      },
      async teardown(state) {
        await state.client.end()
      },
    },
  },
}

/** Every backend the harness knows, by the name given to --backend. */
export const BACKENDS = { sqlite, postgres }
