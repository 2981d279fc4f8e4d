import type { FastifyInstance } from 'fastify'
import { readFileSync, readdirSync } from 'node:fs'
import { extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Where the page, its scripts and its style sheet are: copied beside this module at build (scripts/copy-assets.mjs). */
export const ASSETS_DIR = fileURLToPath(new URL('./assets/', import.meta.url))

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
}

/**
 * Everything the page may load comes from this server: no other origin, no inline script, no
 * framing; the token in the URL's fragment never travels in a Referer.
 */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'cross-origin-opener-policy': 'same-origin',
  'cache-control': 'no-store',
}

/** The shipped assets, read once: name → bytes. */
function loadAssets(dir: string): Map<string, Buffer> {
  const assets = new Map<string, Buffer>()
  for (const name of readdirSync(dir)) if (TYPES[extname(name)] !== undefined) assets.set(name, readFileSync(join(dir, name)))
  return assets
}

/**
 * Serves the inspector's page at `/` and its files at `/inspector/<name>`, without a token: they
 * hold no data of the store (every API call the page makes needs the token).
 */
export function registerAssets(app: FastifyInstance, dir = ASSETS_DIR): void {
  const assets = loadAssets(dir)
  const send = (name: string) => assets.get(name)
  app.get('/', { config: { auth: false } }, async (_request, reply) =>
    reply.headers(SECURITY_HEADERS).type(TYPES['.html']!).send(send('index.html')),
  )
  app.get<{ Params: { name: string } }>('/inspector/:name', { config: { auth: false } }, async (request, reply) => {
    const body = send(request.params.name)
    if (body === undefined) return reply.code(404).headers(SECURITY_HEADERS).type('text/plain').send('Not found')
    return reply.headers(SECURITY_HEADERS).type(TYPES[extname(request.params.name)]!).send(body)
  })
}
