import type { StandardSchemaV1 } from '@standard-schema/spec'
import type { JsonObject } from '../backends/backend.js'
import { TandemError, ValidationError } from '../errors.js'
import { checkData } from './data.js'

/** At most this many dropped keys are named in one error. */
const MAX_NAMED_KEYS = 10

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const proto: unknown = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/**
 * The keys of `input` that the schema's `output` lacks (dot paths, `items[2].name` in arrays):
 * keys a validator such as zod or valibot strips because the schema does not declare them. A key
 * whose value is undefined is not one: JSON would not store it anyway.
 */
export function droppedKeys(input: unknown, output: unknown, path = '', found: string[] = []): string[] {
  if (input === output || found.length >= MAX_NAMED_KEYS) return found
  if (Array.isArray(input) && Array.isArray(output)) {
    for (let i = 0; i < Math.min(input.length, output.length); i++) droppedKeys(input[i], output[i], `${path}[${i}]`, found)
    return found
  }
  if (!isPlainObject(input) || !isPlainObject(output)) return found
  for (const key of Object.keys(input)) {
    if (input[key] === undefined) continue
    const at = path === '' ? key : `${path}.${key}`
    if (!Object.hasOwn(output, key)) found.push(at)
    else droppedKeys(input[key], output[key], at, found)
    if (found.length >= MAX_NAMED_KEYS) break
  }
  return found
}

/**
 * What every write stores: the collection's schema output (when it has a schema), checked to be
 * plain JSON. Rejects with ValidationError (the schema's issues) or INVALID_DATA; writes nothing.
 * Keys the schema would drop are refused with INVALID_DATA naming them, unless `unknownKeys` is
 * 'strip': a typo, or a field the schema lacks, is never lost in silence.
 */
export async function validateData(
  collection: string,
  schema: StandardSchemaV1 | undefined,
  data: unknown,
  id?: string,
  unknownKeys: 'refuse' | 'strip' = 'refuse',
): Promise<JsonObject> {
  if (schema === undefined) return checkData(collection, data)
  const result = await schema['~standard'].validate(data)
  if (result.issues !== undefined) {
    const issues = result.issues.map((i) => ({ message: i.message, path: (i.path ?? []).map((p) => (typeof p === 'object' ? p.key : p)) }))
    throw new ValidationError(collection, issues, id)
  }
  if (unknownKeys === 'refuse') {
    const dropped = droppedKeys(data, result.value)
    if (dropped.length > 0) {
      const record = id === undefined ? `"${collection}"` : `${collection}/${id}`
      throw new TandemError(
        'INVALID_DATA',
        `Data for ${record} has ${dropped.length === 1 ? 'a field' : 'fields'} the schema does not declare: ${dropped.map((k) => `"${k}"`).join(', ')}. The schema would drop ${dropped.length === 1 ? 'it' : 'them'}, so nothing was written.`,
        {
          collection,
          ...(id === undefined ? {} : { id }),
          hint: `Fix the field name, add it to the schema of "${collection}", or set unknownKeys: 'strip' on the collection to drop such fields.`,
        },
      )
    }
  }
  return checkData(collection, result.value)
}
