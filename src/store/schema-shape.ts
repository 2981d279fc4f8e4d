import type { StandardSchemaV1 } from '@standard-schema/spec'

/**
 * The top-level fields a collection's schema declares, as far as the validator shows them at run
 * time. Standard Schema itself exposes no field list, so this reads the two shapes we know: a zod
 * object (`_zod.def.type === 'object'` and `.shape`; zod 3's `_def.typeName === 'ZodObject'`) and
 * a valibot object (`type` ending in `object`, and `.entries`). `open` is true when the object
 * keeps keys it does not list (zod `looseObject`/`passthrough`, valibot `looseObject` and
 * `objectWithRest`): then any field may be in the data. Anything else (arktype, a zod pipe or
 * union, a hand-written validator) gives undefined: the fields are not known.
 */
export interface SchemaShape {
  readonly fields: ReadonlySet<string>
  readonly open: boolean
}

type Loose = { [key: string]: unknown } | undefined

function zodShape(schema: Loose): SchemaShape | undefined {
  const def = (schema?.['_zod'] as Loose)?.['def'] as Loose
  if (def?.['type'] === 'object' && typeof def['shape'] === 'object' && def['shape'] !== null) {
    const catchall = ((def['catchall'] as Loose)?.['_zod'] as Loose)?.['def'] as Loose
    // A catchall of z.never() (strictObject) refuses unknown keys; any other catchall keeps them.
    return { fields: new Set(Object.keys(def['shape'])), open: catchall !== undefined && catchall['type'] !== 'never' }
  }
  const def3 = schema?.['_def'] as Loose
  if (def3?.['typeName'] === 'ZodObject' && typeof schema?.['shape'] === 'object' && schema['shape'] !== null) {
    const catchall = (def3['catchall'] as Loose)?.['_def'] as Loose
    const open = def3['unknownKeys'] === 'passthrough' || (catchall !== undefined && catchall['typeName'] !== 'ZodNever')
    return { fields: new Set(Object.keys(schema['shape'])), open }
  }
  return undefined
}

function valibotShape(schema: Loose): SchemaShape | undefined {
  const type = schema?.['type']
  const entries = schema?.['entries']
  if (typeof type !== 'string' || !type.endsWith('object') || typeof entries !== 'object' || entries === null) return undefined
  return { fields: new Set(Object.keys(entries)), open: type === 'loose_object' || type === 'object_with_rest' }
}

/** The schema's top-level fields when its validator exposes them (zod, valibot), else undefined. */
export function schemaShape(schema: StandardSchemaV1 | undefined): SchemaShape | undefined {
  if (schema === undefined) return undefined
  try {
    const vendor = schema['~standard'].vendor
    const loose = schema as unknown as Loose
    if (vendor === 'zod') return zodShape(loose)
    if (vendor === 'valibot') return valibotShape(loose)
  } catch {
    // A validator whose internals differ from what we read: its fields are simply not known.
  }
  return undefined
}
