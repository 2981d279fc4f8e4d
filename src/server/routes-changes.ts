import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { ChangeStart } from '../changes/change.js'
import type { Consumer } from '../changes/consumer.js'
import { TandemError } from '../errors.js'
import type { Store } from '../store/store.js'
import { httpError } from './http-errors.js'
import type { SseHub } from './sse.js'
import { TX_HEADER } from './routes-records.js'
import type { TxSessions } from './tx-sessions.js'

const FILTER = { collections: { type: 'string' }, ids: { type: 'string' } } as const

function list(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
}

function filterOf(query: { collections?: string; ids?: string }): { collections?: string[]; ids?: string[] } {
  const collections = list(query.collections)
  const ids = list(query.ids)
  return { ...(collections === undefined ? {} : { collections }), ...(ids === undefined ? {} : { ids }) }
}

/** Where a stream starts: Last-Event-ID (a reconnecting client) wins over ?since. */
function startOf(request: FastifyRequest, since: string | undefined): ChangeStart {
  const last = request.headers['last-event-id']
  const value = typeof last === 'string' && last !== '' ? last : since
  if (value === undefined || value === 'now') return 'now'
  if (value === 'beginning') return 'beginning'
  if (/^[0-9]{1,15}$/.test(value)) return Number(value)
  throw httpError(
    'INVALID_REQUEST',
    `since (or Last-Event-ID) must be now, beginning or a change seq (got ${JSON.stringify(value.slice(0, 40))}).`,
    'Resume with the id of the last event received.',
  )
}

/** GET /v1/changes (the change feed as SSE) and the durable consumers' routes. */
export function registerChangeRoutes(app: FastifyInstance, store: Store, sse: SseHub, sessions: TxSessions): void {
  app.get<{ Querystring: { since?: string; collections?: string; ids?: string } }>(
    '/v1/changes',
    { schema: { querystring: { type: 'object', additionalProperties: false, properties: { since: { type: 'string' }, ...FILTER } } } },
    async (request, reply) => {
      const stream = store.changes({ since: startOf(request, request.query.since), ...filterOf(request.query) })
      let position: number
      try {
        position = (await stream.started) as number
      } catch (error) {
        stream.close()
        throw error
      }
      await sse.pipe(request, reply, stream, position)
    },
  )

  /** The latest Consumer object per role and name: acks go to the one holding (or last holding) the lease. */
  const consumers = new Map<string, Consumer>()
  const key = (role: string, name: string) => `${role}\n${name}`
  const reading = new Set<Consumer>()

  app.get<{ Params: { name: string }; Querystring: { start?: 'now' | 'beginning'; collections?: string; ids?: string } }>(
    '/v1/consumers/:name/changes',
    {
      schema: {
        querystring: { type: 'object', additionalProperties: false, properties: { start: { enum: ['now', 'beginning'] }, ...FILTER } },
      },
    },
    async (request, reply) => {
      const { name } = request.params
      const previous = consumers.get(key(request.role, name))
      if (previous !== undefined && reading.has(previous))
        throw new TandemError('CONSUMER_BUSY', `Consumer "${name}" is being read by another connection to this server.`, {
          hint: 'Read each consumer from one client at a time.',
        })
      const consumer = store.as(request.role).consumer(name, { start: request.query.start ?? 'now', ...filterOf(request.query) })
      const stream = await consumer.changes()
      consumers.set(key(request.role, name), consumer)
      reading.add(consumer)
      try {
        await sse.pipe(request, reply, stream, consumer.position ?? 0)
      } finally {
        reading.delete(consumer)
      }
    },
  )

  app.post<{ Params: { name: string }; Body: { seq: number } }>(
    '/v1/consumers/:name/ack',
    {
      schema: {
        body: { type: 'object', required: ['seq'], additionalProperties: false, properties: { seq: { type: 'integer', minimum: 0 } } },
      },
    },
    async (request) => {
      const { name } = request.params
      const consumer = consumers.get(key(request.role, name))
      if (consumer === undefined)
        throw new TandemError('CONSUMER_LOST', `Consumer "${name}" is not read through this server now: there is nothing to acknowledge.`, {
          hint: 'Open GET /v1/consumers/{name}/changes first, and ack the changes it sent.',
        })
      const txId = request.headers[TX_HEADER]
      // Inside an interactive transaction the ack commits with it (the library's exactly-once pattern).
      if (typeof txId === 'string') await sessions.get(txId, request.role).run(() => consumer.ack(request.body.seq))
      else await consumer.ack(request.body.seq)
      return { position: consumer.position }
    },
  )
}
