import type { StandardSchemaV1 } from '@standard-schema/spec'
import type { JsonObject } from '../backends/backend.js'
import { ValidationError } from '../errors.js'
import { checkData } from './data.js'

/**
 * What every write stores: the collection's schema output (when it has a schema), checked to be
 * plain JSON. Rejects with ValidationError (the schema's issues) or INVALID_DATA; writes nothing.
 */
export async function validateData(
  collection: string,
  schema: StandardSchemaV1 | undefined,
  data: unknown,
  id?: string,
): Promise<JsonObject> {
  if (schema === undefined) return checkData(collection, data)
  const result = await schema['~standard'].validate(data)
  if (result.issues !== undefined) {
    const issues = result.issues.map((i) => ({ message: i.message, path: (i.path ?? []).map((p) => (typeof p === 'object' ? p.key : p)) }))
    throw new ValidationError(collection, issues, id)
  }
  return checkData(collection, result.value)
}
