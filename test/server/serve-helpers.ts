import { join } from 'node:path'
import { request, type Agent } from 'node:http'
import { createToken } from '../../src/server.js'
import { tempDir } from '../helpers/backends.js'
import { forkWorker, type WorkerHandle } from '../helpers/processes.js'

/** A served store in a child process, its tokens (one per role) and its folder. */
export interface Served {
  url: string
  worker: WorkerHandle
  dir: string
  tokensFile: string
  tokens: { server: string; daemon: string; dashboard: string }
}

export interface ServeArgs {
  socket?: string
  port?: number
  requestTimeoutMs?: number
  bodyLimitBytes?: number
}

/** Starts test/workers/http-server.mjs on a fresh store (or `dir`), with tokens for server, daemon and dashboard. */
export async function startServer(args: ServeArgs = {}, dir = tempDir(), tokens?: Served['tokens']): Promise<Served> {
  const tokensFile = join(dir, 'store.db.tokens.json')
  const made = tokens ?? {
    server: createToken(tokensFile, 'server').secret,
    daemon: createToken(tokensFile, 'daemon').secret,
    dashboard: createToken(tokensFile, 'dashboard').secret,
  }
  const worker = forkWorker('http-server.mjs', { dataDir: dir, path: 'store.db', tokensFile, ...args })
  const { url } = (await worker.waitFor('listening')) as unknown as { url: string }
  return { url, worker, dir, tokensFile, tokens: made }
}

/** One HTTP answer: status, headers and the parsed JSON body (or the raw text). */
export interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: any // eslint-disable-line @typescript-eslint/no-explicit-any -- JSON of any shape, checked by each test
  /** Whether the request went over a kept-alive connection an earlier request used. */
  reusedSocket: boolean
}

/**
 * Sends one request with node:http (raw bytes allowed), so a test controls every header and byte.
 * Each request opens its own connection, unless `agent` (a keep-alive one) is given.
 */
export function call(
  url: string,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; raw?: string | Buffer; headers?: Record<string, string>; agent?: Agent } = {},
): Promise<Reply> {
  const payload = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body))
  const headers: Record<string, string> = { ...options.headers }
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
  if (payload !== undefined) headers['content-type'] ??= 'application/json'
  const where = url.startsWith('unix:') ? { socketPath: url.slice(5) } : { host: new URL(url).hostname, port: Number(new URL(url).port) }
  return new Promise((resolve, reject) => {
    const req = request({ ...where, method, path, headers, agent: options.agent ?? false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let body: unknown = text
        try {
          body = text === '' ? undefined : JSON.parse(text)
        } catch {
          // Not JSON: kept as text.
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, reusedSocket: req.reusedSocket })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(payload)
  })
}
