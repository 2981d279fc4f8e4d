import type { StandardSchemaV1 } from '@standard-schema/spec'
import type { CollectionSettings } from '../store/config.js'
import { BODY, OPERATION_SCHEMA } from './operations.js'

/** Every code an answer's error may carry (docs/http-api.md, Errors). */
export const ERROR_CODES = [
  'INVALID_JSON',
  'INVALID_REQUEST',
  'INVALID_QUERY',
  'INVALID_ID',
  'UNAUTHORIZED',
  'NOT_OWNER',
  'READ_ONLY',
  'NOT_FOUND',
  'UNKNOWN_COLLECTION',
  'ROUTE_NOT_FOUND',
  'VERSION_CONFLICT',
  'DUPLICATE_ID',
  'CONSUMER_BUSY',
  'CONSUMER_LOST',
  'CHANGES_TRIMMED',
  'TRANSACTION_CLOSED',
  'BODY_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'SCHEMA_INVALID',
  'INVALID_DATA',
  'BUSY_TIMEOUT',
  'STORE_CLOSED',
  'ROLE_LOST',
  'STORE_FILES_CHANGED',
  'STORAGE_FAILURE',
  'SERVER_TIMEOUT',
  'OUTCOME_UNKNOWN',
  'INTERNAL',
] as const

/** The collection's JSON Schema where its validator exports one (zod 4, arktype...), else any object. */
function dataSchema(schema: StandardSchemaV1 | undefined): object {
  const props = schema?.['~standard'] as
    (StandardSchemaV1.Props & { jsonSchema?: { input?: (o: { target: string }) => unknown } }) | undefined
  try {
    const json = props?.jsonSchema?.input?.({ target: 'draft-2020-12' })
    if (json !== null && typeof json === 'object') {
      const { $schema: _ignored, ...rest } = json as Record<string, unknown>
      return rest
    }
  } catch {
    // A schema with transforms or refinements JSON Schema cannot express: described as any object.
  }
  return { type: 'object' }
}

const json = (schema: object) => ({ content: { 'application/json': { schema } } })
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` })
const errors = { '4XX': { description: 'Refused', ...json(ref('Error')) }, '5XX': { description: 'Failed', ...json(ref('Error')) } }
const sse = {
  200: {
    description: 'Server-Sent Events: ready, then change events (id = seq)',
    content: { 'text/event-stream': { schema: { type: 'string' } } },
  },
}

/** The OpenAPI 3.1 document of a server for these collections: every route, each collection's data schema, the error codes. */
export function openApiDocument(collections: Iterable<CollectionSettings>, version: string): object {
  const schemas: Record<string, object> = {
    Error: {
      type: 'object',
      required: ['error'],
      properties: {
        error: {
          type: 'object',
          required: ['code', 'message'],
          properties: {
            code: { enum: [...ERROR_CODES] },
            message: { type: 'string' },
            hint: { type: 'string' },
            index: { type: 'integer' },
          },
        },
      },
    },
    Page: { type: 'object', properties: { records: { type: 'array', items: ref('Record') }, next: { type: ['string', 'null'] } } },
    Record: {
      type: 'object',
      required: ['id', 'version', 'createdAt', 'updatedAt', 'role', 'data'],
      properties: {
        id: { type: 'string' },
        version: { type: 'integer' },
        createdAt: { type: 'string', format: 'date-time' },
        updatedAt: { type: 'string', format: 'date-time' },
        role: { type: 'string' },
        data: { type: 'object' },
      },
    },
  }
  const paths: Record<string, object> = {}
  const names: string[] = []
  for (const c of collections) {
    names.push(c.name)
    const data = `${c.name}Data`
    schemas[data] = dataSchema(c.schema)
    const record = { allOf: [ref('Record'), { type: 'object', properties: { data: ref(data) } }] }
    const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } }
    const base = `/v1/collections/${c.name}`
    const writers = c.writers === '*' ? 'any role' : `roles ${c.writerList.join(', ')}`
    paths[`${base}/records`] = {
      post: {
        summary: `Insert a ${c.name} record (written by ${writers})`,
        requestBody: json({ ...BODY.insert, properties: { ...BODY.insert.properties, data: ref(data) } }),
        responses: { 201: { description: 'Inserted', ...json(record) }, ...errors },
      },
      get: { summary: `One page of ${c.name}`, responses: { 200: { description: 'A page', ...json(ref('Page')) }, ...errors } },
    }
    paths[`${base}/records/{id}`] = {
      parameters: [idParam],
      get: { summary: `One ${c.name} record`, responses: { 200: { description: 'The record', ...json(record) }, ...errors } },
      put: {
        summary: `Upsert or replace a ${c.name} record`,
        requestBody: json({ ...BODY.put, properties: { ...BODY.put.properties, data: ref(data) } }),
        responses: { 200: { description: 'Replaced', ...json(record) }, 201: { description: 'Inserted', ...json(record) }, ...errors },
      },
      patch: {
        summary: `Patch a ${c.name} record`,
        requestBody: json(BODY.patch),
        responses: { 200: { description: 'Patched', ...json(record) }, ...errors },
      },
      delete: {
        summary: `Delete a ${c.name} record`,
        parameters: [{ name: 'ifVersion', in: 'query', schema: { type: 'integer' } }],
        responses: {
          200: { description: 'Deleted or not there', ...json({ type: 'object', properties: { deleted: { type: 'boolean' } } }) },
          ...errors,
        },
      },
    }
    paths[`${base}/find`] = {
      post: {
        summary: `Find ${c.name} records`,
        requestBody: json(BODY.find),
        responses: { 200: { description: 'A page', ...json(ref('Page')) }, ...errors },
      },
    }
    paths[`${base}/count`] = {
      post: {
        summary: `Count ${c.name} records`,
        requestBody: json(BODY.count),
        responses: {
          200: { description: 'The count', ...json({ type: 'object', properties: { count: { type: 'integer' } } }) },
          ...errors,
        },
      },
    }
  }
  paths['/v1/transaction'] = {
    post: {
      summary: 'Apply a list of operations all or nothing',
      requestBody: json({
        type: 'object',
        required: ['operations'],
        properties: { operations: { type: 'array', items: OPERATION_SCHEMA } },
      }),
      responses: {
        200: { description: 'One result per operation', ...json({ type: 'object', properties: { results: { type: 'array' } } }) },
        ...errors,
      },
    },
  }
  paths['/v1/transactions'] = {
    post: { summary: 'Open an interactive transaction', responses: { 201: { description: 'Its id' }, ...errors } },
  }
  paths['/v1/transactions/{id}/commit'] = { post: { summary: 'Commit it', responses: { 200: { description: 'Committed' }, ...errors } } }
  paths['/v1/transactions/{id}/rollback'] = {
    post: { summary: 'Roll it back', responses: { 200: { description: 'Rolled back' }, ...errors } },
  }
  paths['/v1/changes'] = {
    get: {
      summary: 'The change feed (Server-Sent Events; resume with Last-Event-ID)',
      parameters: [
        { name: 'since', in: 'query', schema: { type: 'string' } },
        { name: 'collections', in: 'query', schema: { type: 'string' } },
        { name: 'ids', in: 'query', schema: { type: 'string' } },
      ],
      responses: { ...sse, ...errors },
    },
  }
  paths['/v1/consumers/{name}/changes'] = {
    get: { summary: "A durable consumer's changes after its last ack (SSE)", responses: { ...sse, ...errors } },
  }
  paths['/v1/consumers/{name}/ack'] = {
    post: {
      summary: 'Acknowledge up to a seq',
      requestBody: json({ type: 'object', required: ['seq'], properties: { seq: { type: 'integer' } } }),
      responses: { 200: { description: 'Acknowledged' }, ...errors },
    },
  }
  paths['/v1/status'] = {
    get: { summary: 'The token role and the store description', responses: { 200: { description: 'Status' }, ...errors } },
  }
  paths['/v1/health'] = { get: { summary: 'Liveness (no token needed)', security: [], responses: { 200: { description: 'ok' } } } }
  return {
    openapi: '3.1.0',
    info: { title: 'Tandem store', version, description: `Collections: ${names.join(', ') || '(none)'}. See docs/http-api.md.` },
    components: { schemas, securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths,
  }
}
