import { createHash } from 'node:crypto'
import type { StandardSchemaV1 } from '@standard-schema/spec'
import type { JsonObject, WriteTx } from '../backends/backend.js'
import { TandemError } from '../errors.js'
import { isStale, PROCESSES_COLLECTION, type ProcessEntry } from '../registry/process-registry.js'
import type { CollectionSettings } from './config.js'
import { describeHistory } from './history.js'

/** The internal collection where each process records the collections it declares. */
export const DECLARATIONS_COLLECTION = '_collections'

/** What a process declares about one collection: what every process sharing it must agree on. */
export interface CollectionDeclaration {
  writers: string[]
  indexes: string[]
  /** A digest of the schema (its JSON Schema where the validator exports one, else its vendor), or null. */
  schema: string | null
  /** Retention limits, as `maxCount=…,maxAgeMs=…`, or null. */
  retain: string | null
  /** What the change log keeps (describeHistory in history.ts): 'changes', 'full', 'diff;maxCount=…;maxAgeMs=…'. */
  history: string
}

/** A declaration as recorded: who declared it, and which process (registry id) did. */
export interface RecordedDeclaration extends CollectionDeclaration {
  declaredBy: string
  declaredAt: string
  /** The registry id of the process that last recorded it (absent in stores written before it was recorded). */
  process?: string
  /** The registry ids of the processes that declared it so and were live when it was last recorded. */
  processes?: string[]
}

const FIELDS = ['writers', 'indexes', 'schema', 'retain', 'history'] as const

function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16)
}

/** A stable digest of a Standard Schema: its JSON Schema where the validator can export one (zod 4.2+, arktype...). */
function schemaDigest(schema: StandardSchemaV1 | undefined): string | null {
  if (schema === undefined) return null
  const props = schema['~standard'] as StandardSchemaV1.Props & { jsonSchema?: { input?: (options: { target: string }) => unknown } }
  try {
    const json = props.jsonSchema?.input?.({ target: 'draft-2020-12' })
    if (json !== undefined) return `${props.vendor}:${digest(JSON.stringify(json))}`
  } catch {
    // A schema the validator cannot express as JSON Schema (a transform, a refinement): compare by vendor only.
  }
  return props.vendor
}

/** The declaration of one collection as this process's settings give it. */
export function declarationOf(collection: CollectionSettings): CollectionDeclaration {
  const retain = collection.retain
  return {
    writers: [...collection.writerList].sort(),
    indexes: collection.indexes.map((p) => p.join('.')),
    schema: schemaDigest(collection.schema),
    retain: retain === undefined ? null : `maxCount=${retain.maxCount ?? '-'},maxAgeMs=${retain.maxAgeMs ?? '-'}`,
    history: describeHistory(collection),
  }
}

/**
 * A short fingerprint of everything this process declares (collections and migrations): two
 * processes with the same fingerprint agree on the store's definition. Shown by `tandem status`.
 */
export function definitionFingerprint(
  collections: Iterable<CollectionSettings>,
  migrations: readonly { version: number; name: string }[],
): string {
  const declared = [...collections].sort((a, b) => (a.name < b.name ? -1 : 1)).map((c) => [c.name, declarationOf(c)])
  return digest(JSON.stringify([declared, migrations.map((m) => [m.version, m.name])]))
}

function show(value: unknown): string {
  return value === null ? 'none' : JSON.stringify(value)
}

/** The fields in which two declarations differ, as `writers ["a"] here, ["a","b"] there`. */
function differences(mine: CollectionDeclaration, theirs: Partial<CollectionDeclaration>): string[] {
  const out: string[] = []
  for (const field of FIELDS) {
    const other = theirs[field] ?? null
    // A declaration recorded before this field was kept says nothing about it.
    if (!(field in theirs)) continue
    if (JSON.stringify(mine[field]) !== JSON.stringify(other)) out.push(`${field} ${show(mine[field])} here, ${show(other)} there`)
  }
  return out
}

/**
 * Records what this process declares for each collection, inside the registration transaction.
 * A declaration that differs from the recorded one replaces it — the definition was changed and
 * the process that declared the old one has gone — unless that process is still live: then two
 * running processes disagree on who writes a collection, its indexes, schema, retention or history, and
 * the open fails with DEFINITION_MISMATCH naming each difference and the other process.
 */
export async function declareCollections(
  tx: WriteTx,
  collections: Iterable<CollectionSettings>,
  role: string,
  processId: string,
): Promise<void> {
  const now = Date.now()
  const live = new Map<string, ProcessEntry>()
  for (const row of await tx.find(PROCESSES_COLLECTION, {
    where: [],
    orderBy: { field: { kind: 'meta', name: 'id' }, direction: 'asc' },
  })) {
    const entry = row.data as unknown as ProcessEntry
    if (!isStale(entry, now)) live.set(entry.id, entry)
  }
  const conflicts: { name: string; diff: string[] }[] = []
  let holder: ProcessEntry | undefined
  const writes: (() => Promise<void>)[] = []
  for (const c of collections) {
    const declared = declarationOf(c)
    const row = await tx.get(DECLARATIONS_COLLECTION, c.name)
    const previous = row?.data as unknown as RecordedDeclaration | undefined
    // Every live process that declared it this way: a drifted declaration is checked against all
    // of them, not only the last to record it (a matching process that opened later counts too).
    const declarers = (previous?.processes ?? (previous?.process === undefined ? [] : [previous.process])).filter(
      (id) => id !== processId && live.has(id),
    )
    let processes = [...declarers, processId]
    if (previous !== undefined) {
      const diff = differences(declared, previous)
      if (diff.length > 0 && declarers.length > 0) {
        holder ??= live.get(declarers[0]!)
        conflicts.push({ name: c.name, diff })
        continue
      }
      if (diff.length > 0) processes = [processId]
    }
    // An unchanged declaration keeps who first declared it so, and when.
    const first = previous !== undefined && processes.length > 1 ? previous : { declaredBy: role, declaredAt: new Date(now).toISOString() }
    const data = {
      ...declared,
      declaredBy: first.declaredBy,
      declaredAt: first.declaredAt,
      process: processId,
      processes,
    } satisfies RecordedDeclaration
    writes.push(async () => {
      if (row === undefined)
        await tx.insert(DECLARATIONS_COLLECTION, {
          id: c.name,
          version: 1,
          createdAt: now,
          updatedAt: now,
          role,
          data: data as unknown as JsonObject,
        })
      else
        await tx.update(DECLARATIONS_COLLECTION, {
          ...row,
          version: row.version + 1,
          updatedAt: now,
          role,
          data: data as unknown as JsonObject,
        })
    })
  }
  if (holder !== undefined) {
    throw new TandemError(
      'DEFINITION_MISMATCH',
      `This process declares the store differently from pid ${holder.pid} (role "${holder.role}", on ${holder.host} since ${holder.startedAt}), which is running: ${conflicts.map((c) => `collection "${c.name}": ${c.diff.join('; ')}`).join(' | ')}. Nothing was changed.`,
      {
        ...(conflicts.length === 1 ? { collection: conflicts[0]!.name } : {}),
        hint: 'Declare the store once (export default defineStore({...}) in one module) and import it in every process and in tandem.config.ts. If you changed the definition on purpose, stop the processes still running the old one, then start them again.',
      },
    )
  }
  for (const write of writes) await write()
}
