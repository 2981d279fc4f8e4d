import type { JsonObject } from '../backends/backend.js'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Store } from '../store/store.js'
import type { FindOptions } from '../store/query.js'
import { httpError } from './http-errors.js'
import { BODY, applyOperation, type CollectionSource, type Operation } from './operations.js'
import type { TxHandle, TxSessions } from './tx-sessions.js'

/** The header that runs a request inside an open interactive transaction. */
export const TX_HEADER = 'tandem-transaction'

interface Params {
  collection: string
  id: string
}

const params = {
  type: 'object',
  properties: { collection: { type: 'string', minLength: 1 }, id: { type: 'string', minLength: 1 } },
} as const

/** Runs `work` as the request's role: inside its interactive transaction when it names one. */
export function runAs<T>(
  store: Store,
  sessions: TxSessions,
  request: FastifyRequest,
  work: (source: CollectionSource) => Promise<T>,
): Promise<T> {
  const txId = request.headers[TX_HEADER]
  if (typeof txId === 'string') return sessions.get(txId, request.role).run((tx: TxHandle) => work(tx))
  return work(store.as(request.role))
}

function jsonParam(name: string, value: string | undefined): unknown {
  if (value === undefined) return undefined
  try {
    return JSON.parse(value)
  } catch {
    throw httpError(
      'INVALID_REQUEST',
      `Query parameter ${name} is not JSON (got ${JSON.stringify(value.slice(0, 100))}).`,
      `Send ${name} as URL-encoded JSON.`,
    )
  }
}

function intParam(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  if (!/^[0-9]{1,15}$/.test(value))
    throw httpError(
      'INVALID_REQUEST',
      `Query parameter ${name} must be a whole number (got ${JSON.stringify(value.slice(0, 100))}).`,
      'Fix the query string.',
    )
  return Number(value)
}

/** The record routes: get, insert, put, patch, delete, find, count (see docs/http-api.md). */
export function registerRecordRoutes(app: FastifyInstance, store: Store, sessions: TxSessions): void {
  const op = (request: FastifyRequest, operation: Operation) =>
    runAs(store, sessions, request, (source) => applyOperation(source, operation))
  const base = '/v1/collections/:collection/records'

  app.get<{ Params: Params }>(`${base}/:id`, { schema: { params } }, async (request) => {
    const record = await op(request, { op: 'get', collection: request.params.collection, id: request.params.id })
    if (record === null)
      throw Object.assign(
        httpError(
          'NOT_FOUND',
          `Record ${request.params.collection}/${request.params.id} does not exist.`,
          'List ids with POST .../find, or insert the record.',
        ),
        { collection: request.params.collection, id: request.params.id },
      )
    return record
  })

  app.post<{ Params: Params; Body: { data: JsonObject; id?: string } }>(
    base,
    { schema: { params, body: BODY.insert } },
    async (request, reply) => {
      const { data, id } = request.body
      const record = await op(request, { op: 'insert', collection: request.params.collection, data, ...(id === undefined ? {} : { id }) })
      return reply.code(201).send(record)
    },
  )

  app.put<{ Params: Params; Body: { data: JsonObject; ifVersion?: number; mode?: 'upsert' | 'replace' } }>(
    `${base}/:id`,
    { schema: { params, body: BODY.put } },
    async (request, reply) => {
      const record = await op(request, { op: 'put', collection: request.params.collection, id: request.params.id, ...request.body })
      return reply.code(record !== null && 'version' in record && record.version === 1 ? 201 : 200).send(record)
    },
  )

  app.patch<{ Params: Params; Body: { set?: JsonObject; remove?: string[]; ifVersion?: number } }>(
    `${base}/:id`,
    { schema: { params, body: BODY.patch } },
    async (request) => op(request, { op: 'patch', collection: request.params.collection, id: request.params.id, ...request.body }),
  )

  app.delete<{ Params: Params; Querystring: { ifVersion?: string } }>(
    `${base}/:id`,
    { schema: { params, querystring: { type: 'object', additionalProperties: false, properties: { ifVersion: { type: 'string' } } } } },
    async (request) => {
      const ifVersion = intParam('ifVersion', request.query.ifVersion)
      return op(request, {
        op: 'delete',
        collection: request.params.collection,
        id: request.params.id,
        ...(ifVersion === undefined ? {} : { ifVersion }),
      })
    },
  )

  const findPage = (request: FastifyRequest, collection: string, options: FindOptions) =>
    runAs(store, sessions, request, (source) => source.collection(collection).findPage(options))

  app.post<{ Params: Params; Body: FindOptions }>(
    '/v1/collections/:collection/find',
    { schema: { params, body: BODY.find } },
    async (request) => findPage(request, request.params.collection, request.body ?? {}),
  )

  app.get<{ Params: Params; Querystring: { where?: string; orderBy?: string; limit?: string; after?: string } }>(
    base,
    {
      schema: {
        params,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { where: { type: 'string' }, orderBy: { type: 'string' }, limit: { type: 'string' }, after: { type: 'string' } },
        },
      },
    },
    async (request) => {
      const q = request.query
      const options: FindOptions = {}
      if (q.where !== undefined) options.where = jsonParam('where', q.where) as FindOptions['where']
      // orderBy is a field name ("-startedAt") or a JSON object.
      if (q.orderBy !== undefined)
        options.orderBy = (q.orderBy.startsWith('{') ? jsonParam('orderBy', q.orderBy) : q.orderBy) as FindOptions['orderBy']
      const limit = intParam('limit', q.limit)
      if (limit !== undefined) options.limit = limit
      if (q.after !== undefined) options.after = q.after
      return findPage(request, request.params.collection, options)
    },
  )

  app.post<{ Params: Params; Body: { where?: FindOptions['where'] } }>(
    '/v1/collections/:collection/count',
    { schema: { params, body: BODY.count } },
    async (request) => ({
      count: await runAs(store, sessions, request, (source) => source.collection(request.params.collection).count(request.body?.where)),
    }),
  )
}
