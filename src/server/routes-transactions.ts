import type { FastifyInstance } from 'fastify'
import type { Store } from '../store/store.js'
import { OperationFailed } from './http-errors.js'
import { OPERATION_SCHEMA, applyOperation, type Operation } from './operations.js'
import { TX_HEADER } from './routes-records.js'
import type { TxHandle, TxSessions } from './tx-sessions.js'

/** Most operations one POST /v1/transaction may carry. */
export const MAX_OPERATIONS = 1000

/**
 * POST /v1/transaction (a list of operations, all or none) and the interactive transactions the
 * remote client uses (POST /v1/transactions, then .../commit or .../rollback).
 */
export function registerTransactionRoutes(app: FastifyInstance, store: Store, sessions: TxSessions): void {
  app.post<{ Body: { operations: Operation[] } }>(
    '/v1/transaction',
    {
      schema: {
        body: {
          type: 'object',
          required: ['operations'],
          additionalProperties: false,
          properties: { operations: { type: 'array', maxItems: MAX_OPERATIONS, items: OPERATION_SCHEMA } },
        },
      },
    },
    async (request) => {
      const { operations } = request.body
      const results = await store.as(request.role).transaction(async (tx) => {
        const out: unknown[] = []
        for (const [index, operation] of operations.entries()) {
          try {
            out.push(await applyOperation(tx, operation))
          } catch (error) {
            // Thrown out of the callback: the whole transaction rolls back, and the answer names the operation.
            throw new OperationFailed(index, error)
          }
        }
        return out
      })
      return { results }
    },
  )

  app.post('/v1/transactions', async (request, reply) => {
    const parent = request.headers[TX_HEADER]
    const id =
      typeof parent === 'string'
        ? await sessions.openNested(parent, request.role)
        : (await sessions.open(request.role, (fn) => store.as(request.role).transaction((tx) => fn(tx as unknown as TxHandle)))).id
    return reply.code(201).send({ id })
  })

  const finish = (how: 'commit' | 'rollback') => async (request: { params: { id: string }; role: string }) => ({
    committed: await sessions.get(request.params.id, request.role).finish(how),
  })
  app.post<{ Params: { id: string } }>('/v1/transactions/:id/commit', finish('commit'))
  app.post<{ Params: { id: string } }>('/v1/transactions/:id/rollback', finish('rollback'))
}
