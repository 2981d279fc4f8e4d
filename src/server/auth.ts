import type { FastifyInstance, FastifyRequest } from 'fastify'
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

/**
 * Every request but the open ones needs `Authorization: Bearer <token>`; it then acts as the
 * token's role. The secret is never logged nor repeated in an answer.
 */
export function registerAuth(app: FastifyInstance, tokens: TokenSource): void {
  app.decorateRequest('role', '')
  app.addHook('onRequest', async (request: FastifyRequest) => {
    if (OPEN_ROUTES.has(request.routeOptions.url ?? '')) return
    // Routes that declare { config: { auth: false } } serve nothing of the store (the inspector's page and scripts).
    if ((request.routeOptions.config as { auth?: boolean } | undefined)?.auth === false) return
    const header = request.headers.authorization
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null
    if (match === null)
      throw httpError(
        'UNAUTHORIZED',
        'This request has no token: send the header "Authorization: Bearer <token>".',
        'Create one with "tandem token create --role ROLE".',
      )
    const role = tokens.roleOf(match[1]!)
    if (role === undefined)
      throw httpError(
        'UNAUTHORIZED',
        'The token is unknown or was revoked.',
        'Check the token, or create a new one with "tandem token create --role ROLE".',
      )
    request.role = role
  })
}
