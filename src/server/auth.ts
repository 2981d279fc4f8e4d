import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { timingSafeEqual } from 'node:crypto'
import type { Socket } from 'node:net'
import { httpError } from './http-errors.js'
import type { TokenSource } from './tokens.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The role of the request's token (set by the auth hook). */
    role: string
  }
}

/** Routes that answer without a token: they say nothing about the store. */
const OPEN_ROUTES = new Set(['/v1/health'])

const BEARER = /^Bearer\s+(\S+)\s*$/i

/** The token a connection presented last, once verified, and the generation of the tokens it was verified against. */
interface Verified {
  secret: Buffer
  role: string
  generation: number
}

/**
 * The role of `secret`. A keep-alive connection sends the same token with every request: the one
 * it presented last, once verified, is kept with the connection, so the next requests compare it
 * (constant time) instead of hashing it again. That holds only while the token source's
 * generation stays the same, which is looked up on every request (one stat of the token file): a
 * token revoked while the connection is open is refused from the next request, as without it.
 */
function roleFor(tokens: TokenSource, verified: WeakMap<Socket, Verified>, socket: Socket | null, secret: string): string | undefined {
  if (socket === null || typeof socket !== 'object') return tokens.roleOf(secret)
  const generation = tokens.generation()
  const last = verified.get(socket)
  if (last !== undefined && last.generation === generation) {
    const presented = Buffer.from(secret, 'utf8')
    // The length of a token is no secret (every one is 47 characters); timingSafeEqual needs equal lengths.
    if (presented.length === last.secret.length && timingSafeEqual(presented, last.secret)) return last.role
  }
  const role = tokens.roleOf(secret)
  if (role === undefined) verified.delete(socket)
  else verified.set(socket, { secret: Buffer.from(secret, 'utf8'), role, generation })
  return role
}

/**
 * Every request but the open ones needs `Authorization: Bearer <token>`; it then acts as the
 * token's role. The secret is never logged nor repeated in an answer.
 */
export function registerAuth(app: FastifyInstance, tokens: TokenSource): void {
  // Held per connection and dropped with it.
  const verified = new WeakMap<Socket, Verified>()
  app.decorateRequest('role', '')
  // A callback hook, not an async one: no promise per request.
  app.addHook('onRequest', (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const route = request.routeOptions
    if (OPEN_ROUTES.has(route.url ?? '')) return done()
    // Routes that declare { config: { auth: false } } serve nothing of the store (the inspector's page and scripts).
    if ((route.config as { auth?: boolean } | undefined)?.auth === false) return done()
    const header = request.headers.authorization
    const match = typeof header === 'string' ? BEARER.exec(header) : null
    if (match === null)
      return done(
        httpError(
          'UNAUTHORIZED',
          'This request has no token: send the header "Authorization: Bearer <token>".',
          'Create one with "tandem token create --role ROLE".',
        ),
      )
    let role: string | undefined
    try {
      role = roleFor(tokens, verified, request.raw.socket, match[1]!)
    } catch (error) {
      return done(error as Error)
    }
    if (role === undefined)
      return done(
        httpError(
          'UNAUTHORIZED',
          'The token is unknown or was revoked.',
          'Check the token, or create a new one with "tandem token create --role ROLE".',
        ),
      )
    request.role = role
    done()
  })
}
