import type { JsonObject } from '../backends/backend.js'
import type { Collection, StoredRecord } from '../store/collection.js'
import type { AnyData } from '../store/config.js'

/** One write or read of the HTTP API, as a route or an item of POST /v1/transaction gives it. */
export type Operation =
  | { op: 'insert'; collection: string; data: AnyData; id?: string }
  | { op: 'put'; collection: string; id: string; data: AnyData; ifVersion?: number; mode?: 'upsert' | 'replace' }
  | { op: 'patch'; collection: string; id: string; set?: AnyData; remove?: string[]; ifVersion?: number }
  | { op: 'delete'; collection: string; id: string; ifVersion?: number }
  | { op: 'get'; collection: string; id: string }

/** Whatever hands out collections acting as one role: `store.as(role)`, or an open transaction. */
export interface CollectionSource {
  collection(name: string): Collection
}

const version = (ifVersion: number | undefined) => (ifVersion === undefined ? undefined : { ifVersion })

/**
 * Applies one operation through the public Collection API: ownership, validation and versions are
 * the store's to check. Resolves with what the API answers: a record, `{ deleted }`, or null.
 */
export async function applyOperation(source: CollectionSource, op: Operation): Promise<StoredRecord | { deleted: boolean } | null> {
  const collection = source.collection(op.collection)
  switch (op.op) {
    case 'insert':
      return collection.insert(op.data, op.id === undefined ? undefined : { id: op.id })
    case 'put':
      return op.mode === 'replace'
        ? collection.replace(op.id, op.data, version(op.ifVersion))
        : collection.upsert(op.id, op.data, version(op.ifVersion))
    case 'patch': {
      // JSON has no undefined: `remove` lists the fields the library's patch would get as undefined.
      const fields: Record<string, unknown> = { ...op.set }
      for (const field of op.remove ?? []) fields[field] = undefined
      return collection.patch(op.id, fields as JsonObject, version(op.ifVersion))
    }
    case 'delete':
      return { deleted: await collection.delete(op.id, version(op.ifVersion)) }
    case 'get':
      return (await collection.get(op.id)) ?? null
  }
}

const id = { type: 'string', minLength: 1 } as const
const data = { type: 'object' } as const
const ifVersion = { type: 'integer', minimum: 1 } as const
const name = { type: 'string', minLength: 1 } as const

/** JSON Schemas of the bodies (Fastify validates them; unknown fields are refused). */
export const BODY = {
  insert: { type: 'object', required: ['data'], additionalProperties: false, properties: { data, id } },
  put: {
    type: 'object',
    required: ['data'],
    additionalProperties: false,
    properties: { data, ifVersion, mode: { enum: ['upsert', 'replace'] } },
  },
  patch: {
    type: 'object',
    additionalProperties: false,
    properties: { set: data, remove: { type: 'array', items: { type: 'string' } }, ifVersion },
  },
  find: {
    type: 'object',
    additionalProperties: false,
    properties: {
      where: { type: 'object' },
      orderBy: { anyOf: [{ type: 'string' }, { type: 'object' }] },
      limit: { type: 'integer' },
      after: { type: 'string' },
    },
  },
  count: { type: 'object', additionalProperties: false, properties: { where: { type: 'object' } } },
} as const

/** The operations of POST /v1/transaction. */
export const OPERATION_SCHEMA = {
  oneOf: [
    {
      ...BODY.insert,
      required: ['op', 'collection', 'data'],
      properties: { ...BODY.insert.properties, op: { const: 'insert' }, collection: name },
    },
    {
      ...BODY.put,
      required: ['op', 'collection', 'id', 'data'],
      properties: { ...BODY.put.properties, op: { const: 'put' }, collection: name, id },
    },
    {
      ...BODY.patch,
      required: ['op', 'collection', 'id'],
      properties: { ...BODY.patch.properties, op: { const: 'patch' }, collection: name, id },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['op', 'collection', 'id'],
      properties: { op: { const: 'delete' }, collection: name, id, ifVersion },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['op', 'collection', 'id'],
      properties: { op: { const: 'get' }, collection: name, id },
    },
  ],
} as const
