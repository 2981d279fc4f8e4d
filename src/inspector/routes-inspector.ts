import type { FastifyInstance } from 'fastify'
import type { JsonObject } from '../backends/backend.js'
import { TandemError } from '../errors.js'
import type { Store } from '../store/store.js'
import { validateData } from '../store/validate.js'
import { backupInto, lastBackup } from './backups.js'
import { collectionsOverview } from './collections-info.js'
import { processesOverview } from './processes-info.js'

/** One check of the Health screen: `tandem doctor`'s rows, or the checks a PostgreSQL store allows. */
export interface HealthCheck {
  title: string
  status: 'ok' | 'warn' | 'fail' | 'skip'
  summary: string
  details?: string[]
  advice?: string
}

/** What the inspector's routes need besides the store. */
export interface InspectorContext {
  store: Store
  /** How the store was named (a file path, or a url without its password). */
  label: string
  /** The role writes act as; undefined in read-only mode. */
  writeRole: string | undefined
  /** Runs the health checks (the CLI passes doctor's). */
  health: () => Promise<HealthCheck[]>
  /** Where the backup button writes, and where the last backup is looked for; undefined: none known. */
  backupDir: string | undefined
}

function readOnly(what: string): TandemError {
  return new TandemError('READ_ONLY', `This inspector is read-only: ${what} needs one started with --write --role ROLE.`, {
    hint: 'Restart it as "tandem inspect --write --role ROLE".',
  })
}

/**
 * The inspector's own read routes, beside the server's JSON API (records, find, count, the change
 * feed), which the page uses as any client does: /inspector/api/session, collections, processes,
 * health; validate (a schema check that writes nothing) and backup (write mode only).
 */
export function registerInspectorRoutes(app: FastifyInstance, context: InspectorContext): void {
  const { store } = context
  const base = '/inspector/api'
  app.get(`${base}/session`, async (request) => ({
    store: context.label,
    kind: store.kind,
    mode: context.writeRole === undefined ? 'read-only' : 'write',
    role: request.role,
    process: { pid: process.pid, role: store.role },
    backupDir: context.backupDir ?? null,
  }))
  app.get(`${base}/collections`, async () => collectionsOverview(store))
  app.get(`${base}/processes`, async () => processesOverview(store))
  app.get(`${base}/health`, async () => ({
    checks: await context.health(),
    storage: (await store.backend.storageInfo?.()) ?? null,
    lastBackup: context.backupDir === undefined ? null : lastBackup(context.backupDir),
    backupDir: context.backupDir ?? null,
  }))

  app.post<{ Params: { collection: string }; Body: { data: JsonObject; id?: string } }>(
    `${base}/collections/:collection/validate`,
    {
      schema: {
        body: {
          type: 'object',
          required: ['data'],
          additionalProperties: false,
          properties: { data: { type: 'object' }, id: { type: 'string', minLength: 1 } },
        },
      },
    },
    async (request) => {
      const name = request.params.collection
      // store.collection refuses a name the config does not declare (UNKNOWN_COLLECTION), as a write would.
      store.collection(name)
      const settings = store.settings.collections.get(name)!
      // The check every write makes (store/validate.ts), run without writing.
      const data = await validateData(name, settings.schema, request.body.data, request.body.id, settings.unknownKeys)
      return { ok: true, data }
    },
  )

  app.post(`${base}/backup`, async () => {
    if (context.writeRole === undefined) throw readOnly('a backup')
    if (context.backupDir === undefined)
      throw new TandemError('INVALID_REQUEST', 'No backup folder is known for this store.', {
        hint: 'Restart the inspector with --backup-dir DIR, or set backup.dir in the config.',
      })
    return backupInto(store, context.backupDir)
  })
}
