import type { Condition, FieldRef, OrderBy } from '../backends/backend.js'
import { TandemError } from '../errors.js'
import type { CollectionSettings } from './config.js'
import { didYouMean } from './did-you-mean.js'

const META_NAMES = ['$id', '$version', '$createdAt', '$updatedAt', '$role']

/**
 * The data fields a query on this collection may name, or undefined when any may be: the schema's
 * top-level fields (when its validator exposes them and refuses or strips other keys) and the
 * indexed fields. Without a schema, with a validator whose fields are not known (arktype, a zod
 * pipe), or with a loose object schema, records may hold any field, so none is refused.
 */
function knownFields(settings: CollectionSettings): { topLevel: ReadonlySet<string>; indexed: ReadonlySet<string> } | undefined {
  const shape = settings.shape
  if (shape === undefined || shape.open) return undefined
  return { topLevel: shape.fields, indexed: new Set(settings.indexes.map((path) => path.join('.'))) }
}

/**
 * Refuses a query naming a data field that no record of this collection can have (neither in
 * the schema nor indexed) with INVALID_QUERY and the nearest known field, instead of matching
 * nothing. A nested path (`owner.name`) is known when its first segment is a schema field or the
 * whole path is indexed: what is inside a schema field is not checked at run time.
 */
export function checkQueryFields(settings: CollectionSettings, where: readonly Condition[], orderBy?: OrderBy): void {
  const known = knownFields(settings)
  if (known === undefined) return
  const check = (field: FieldRef) => {
    if (field.kind !== 'data') return
    const name = field.path.join('.')
    if (known.topLevel.has(field.path[0]!) || known.indexed.has(name)) return
    const candidates = [...new Set([...known.topLevel, ...known.indexed])]
    throw new TandemError(
      'INVALID_QUERY',
      `Field "${name}" is neither in the schema of "${settings.name}" nor indexed, so no record has it.${didYouMean(name, candidates)} Known fields: ${[...candidates, ...META_NAMES].join(', ')}.`,
      {
        collection: settings.name,
        hint: 'Fix the field name, or add the field to the schema (or to indexes) if records have it.',
      },
    )
  }
  for (const condition of where) check(condition.field)
  if (orderBy !== undefined) check(orderBy.field)
}
