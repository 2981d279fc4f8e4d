import { Agent, request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http'
import { TandemError } from '../errors.js'
import { remoteError, type RemoteErrorBody } from './remote-errors.js'

/** Where a server is: host and port, or a Unix socket (`unix:/path`). */
interface Endpoint {
  host?: string
  port?: number
  socketPath?: string
}

function parseUrl(url: string): Endpoint {
  if (url.startsWith('unix:')) return { socketPath: url.slice('unix:'.length) }
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new TypeError(`openRemoteStore takes an http:// URL or unix:/path (got ${JSON.stringify(url)}).`)
  }
  if (parsed.protocol !== 'http:')
    throw new TypeError(`openRemoteStore speaks http:// (put TLS in a proxy on the server's side; got ${parsed.protocol}).`)
  return { host: parsed.hostname.replace(/^\[|\]$/g, ''), port: Number(parsed.port || 80) }
}

/** What the transport answers: the status and the parsed JSON body. */
export interface Answer {
  status: number
  body: unknown
}

/**
 * Requests to one server: keep-alive connections, the token on every request, JSON in and out,
 * error answers turned into the library's errors. A connection that fails before an answer is
 * SERVER_UNREACHABLE, or OUTCOME_UNKNOWN for a write whose request may have reached the server.
 */
export class HttpTransport {
  readonly #endpoint: Endpoint
  readonly #token: string
  readonly #agent: Agent

  constructor(url: string, token: string) {
    this.#endpoint = parseUrl(url)
    this.#token = token
    this.#agent = new Agent({ keepAlive: true, maxSockets: 64 })
  }

  #options(method: string, path: string, headers: Record<string, string>): RequestOptions {
    return { ...this.#endpoint, agent: this.#agent, method, path, headers: { authorization: `Bearer ${this.#token}`, ...headers } }
  }

  /** Sends one request; resolves with the answer's JSON on 2xx, rejects with the library's error otherwise. */
  send(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<unknown> {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const all =
      payload === undefined
        ? headers
        : { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) }
    return new Promise<unknown>((resolve, reject) => {
      let sent = false
      const req = httpRequest(this.#options(method, path, all), (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('error', (error) => reject(this.#lost(error, method, true)))
        res.on('end', () => {
          let parsed: unknown
          try {
            const text = Buffer.concat(chunks).toString('utf8')
            parsed = text === '' ? undefined : JSON.parse(text)
          } catch (error) {
            return reject(this.#lost(error, method, true))
          }
          const status = res.statusCode ?? 0
          if (status >= 200 && status < 300) resolve(parsed)
          else reject(remoteError((parsed as { error?: RemoteErrorBody } | undefined)?.error, status))
        })
      })
      req.on('error', (error) => reject(this.#lost(error, method, sent)))
      req.end(payload, () => (sent = true))
    })
  }

  /** Opens a streaming GET (Server-Sent Events): resolves with the response once its status is 200. */
  stream(path: string, headers: Record<string, string>): Promise<{ response: IncomingMessage; abort: () => void }> {
    return new Promise((resolve, reject) => {
      // Streams get their own connection (no agent): one that stays open must not hold a pooled socket.
      const req = httpRequest({ ...this.#options('GET', path, { accept: 'text/event-stream', ...headers }), agent: false }, (res) => {
        if (res.statusCode === 200) return resolve({ response: res, abort: () => req.destroy() })
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          let parsed: { error?: RemoteErrorBody } | undefined
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { error?: RemoteErrorBody }
          } catch {
            parsed = undefined
          }
          reject(remoteError(parsed?.error, res.statusCode ?? 0))
        })
      })
      req.on('error', (error) => reject(this.#lost(error, 'GET', false)))
      req.end()
    })
  }

  #lost(error: unknown, method: string, sent: boolean): TandemError {
    const reason = (error as Error | null)?.message ?? String(error)
    if (sent && method !== 'GET')
      return new TandemError(
        'OUTCOME_UNKNOWN',
        `The connection to the server was lost after the request was sent (${reason}): it may or may not have been applied.`,
        {
          cause: error,
          hint: 'Re-read to find out before retrying a write that is not idempotent.',
        },
      )
    return new TandemError('SERVER_UNREACHABLE', `The server could not be reached (${reason}); nothing was done.`, {
      cause: error,
      hint: 'Check that tandem serve runs at that address, then retry.',
    })
  }

  /** Closes the pooled connections. */
  close(): void {
    this.#agent.destroy()
  }
}
