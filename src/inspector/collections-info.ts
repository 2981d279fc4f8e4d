import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { StandardSchemaV1 } from '@standard-schema/spec'
import { DECLARATIONS_COLLECTION, type RecordedDeclaration } from '../store/declarations.js'
import type { CollectionSettings } from '../store/config.js'
import type { Store } from '../store/store.js'
import { readSchemaVersion } from '../migrations/runner.js'

/** What the inspector can show of a collection's schema. */
export type SchemaView =
  | { kind: 'json-schema'; vendor: string; jsonSchema: unknown }
  | { kind: 'fields'; vendor: string; fields: string[]; open: boolean }
  | { kind: 'validator'; vendor: string }
  /** Declared with a schema by some process, but not by this inspector's config: only its digest is known. */
  | { kind: 'digest'; digest: string }
  | { kind: 'none' }

/** One row of the Collections screen. */
export interface CollectionView {
  name: string
  count: number
  /** The writer roles as last recorded by a process (else as this config declares them); null when nobody declared the collection. */
  writers: string[] | null
  declaredBy: string | null
  indexes: string[]
  history: 'changes' | 'full' | 'diff' | null
  schema: SchemaView
  unknownKeys: 'refuse' | 'strip' | null
  /** Fields the filter offers: the schema's, the indexes', and data keys seen by the page. */
  fields: string[]
  /** As this inspector's config declares it (limits and archive), else as recorded (`maxCount=…,maxAgeMs=…`). */
  retention: { maxCount: number | null; maxAgeMs: number | null; archive: { dir: string; period: string } | null } | string | null
  /** Files and bytes in the collection's retention archive folder; null when it has none. */
  archive: { files: number; bytes: number } | null
}

function schemaView(schema: StandardSchemaV1 | undefined, settings: CollectionSettings | undefined, digest: string | null): SchemaView {
  if (schema === undefined) return digest === null ? { kind: 'none' } : { kind: 'digest', digest }
  const props = schema['~standard'] as StandardSchemaV1.Props & { jsonSchema?: { input?: (o: { target: string }) => unknown } }
  try {
    const jsonSchema = props.jsonSchema?.input?.({ target: 'draft-2020-12' })
    if (jsonSchema !== undefined) return { kind: 'json-schema', vendor: props.vendor, jsonSchema }
  } catch {
    // A schema without a JSON Schema form (a transform, a refinement): its fields may still be known.
  }
  const shape = settings?.shape
  if (shape !== undefined) return { kind: 'fields', vendor: props.vendor, fields: [...shape.fields].sort(), open: shape.open }
  return { kind: 'validator', vendor: props.vendor }
}

function schemaFields(view: SchemaView): string[] {
  if (view.kind === 'fields') return view.fields
  if (view.kind !== 'json-schema') return []
  const properties = (view.jsonSchema as { properties?: unknown } | null)?.properties
  return typeof properties === 'object' && properties !== null ? Object.keys(properties) : []
}

/** Files and bytes under `dir` (one level of period files); null when the folder does not exist. */
function archiveSize(dir: string): { files: number; bytes: number } | null {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return null
  }
  let bytes = 0
  let files = 0
  for (const name of names) {
    const stat = statSync(join(dir, name), { throwIfNoEntry: false })
    if (stat?.isFile() === true) {
      files++
      bytes += stat.size
    }
  }
  return { files, bytes }
}

/**
 * The Collections screen: every collection of the store (declared by this config or not) with its
 * count, writers, schema, indexes, retention and archive size. Counts and declarations are read in
 * one read transaction; the sizes of the store's pages are not (they read every row).
 */
export async function collectionsOverview(store: Store): Promise<{
  schemaVersion: number
  changes: { head: number }
  collections: CollectionView[]
}> {
  const head = await store.backend.changeHead()
  const settingsOf = store.settings.collections
  return store.runRead(async (tx) => {
    const schemaVersion = await readSchemaVersion(tx)
    const names = (await tx.listCollections()).filter((n) => !n.startsWith('_')).sort()
    const collections: CollectionView[] = []
    for (const name of names) {
      const recorded = (await tx.get(DECLARATIONS_COLLECTION, name))?.data as unknown as RecordedDeclaration | undefined
      const settings = settingsOf.get(name)
      const schema = schemaView(settings?.schema, settings, recorded?.schema ?? null)
      const retain = settings?.retain
      const indexes = settings?.indexes.map((p) => p.join('.')) ?? recorded?.indexes ?? []
      const archiveDir = retain?.archive?.dir ?? store.settings.archiveDir
      collections.push({
        name,
        count: await tx.count(name, []),
        // What the store's processes declared, else this config's declaration.
        writers: recorded?.writers ?? (settings === undefined ? null : [...settings.writerList]),
        declaredBy: recorded?.declaredBy ?? null,
        indexes,
        history: settings?.history ?? null,
        schema,
        unknownKeys: settings === undefined ? null : (settings.unknownKeys ?? 'refuse'),
        fields: [...new Set([...schemaFields(schema), ...indexes])],
        retention:
          retain !== undefined
            ? {
                maxCount: retain.maxCount ?? null,
                maxAgeMs: retain.maxAgeMs ?? null,
                archive: retain.archive === undefined ? null : { dir: retain.archive.dir, period: retain.archive.period },
              }
            : (recorded?.retain ?? null),
        archive: archiveDir === undefined ? null : archiveSize(join(archiveDir, name)),
      })
    }
    return { schemaVersion, changes: { head }, collections }
  })
}
