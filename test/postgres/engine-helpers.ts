import { openStore, type CollectionsConfig, type Store } from '../../src/index.js'
import { PG_URL, dropSchemaAfterTest, pgAdmin, uniqueSchema } from '../helpers/backends.js'

/** A fresh schema, dropped after the test; `open` opens stores on it that close before the drop. */
export function freshSchema(): {
  schema: string
  open: <C extends CollectionsConfig>(config: { role: string; collections: C; busyTimeoutMs?: number }) => Promise<Store<C>>
} {
  const schema = uniqueSchema('e')
  const stores: Store[] = []
  dropSchemaAfterTest(schema, () => Promise.all(stores.map((s) => s.close().catch(() => undefined))))
  return {
    schema,
    open: async (config) => {
      const store = await openStore({ ...config, url: PG_URL, postgres: { schema } })
      stores.push(store as unknown as Store)
      return store
    },
  }
}

/** pids of this schema's connections, as pg_stat_activity shows them. */
export function backendPids(applicationName: string, extra = 'true'): Promise<number[]> {
  return pgAdmin(async (c) =>
    (
      await c.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND ${extra}`, [applicationName])
    ).rows.map((r) => r.pid),
  )
}

export function terminate(pids: number[]): Promise<unknown> {
  return pgAdmin((c) => c.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [pids]))
}
