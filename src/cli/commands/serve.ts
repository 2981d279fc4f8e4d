import { DEFAULT_PORT } from '../../server/defaults.js'
import { defaultTokensFile } from '../../server/tokens.js'
import { requireConfig } from '../config.js'
import { openWritable } from '../open.js'
import { TARGET_OPTIONS } from '../options.js'
import { describeTarget, resolveTarget, type StoreTarget } from '../target.js'
import { EXIT, type Command } from '../output.js'
import { integerOption, positionals } from '../arguments.js'

const ROLE = /^[A-Za-z0-9_.:-]{1,64}$/

/** The token file of a target: --tokens, else beside the store file (a PostgreSQL store needs --tokens). */
export function tokensFileOf(target: StoreTarget, option: string | boolean | undefined): string {
  if (typeof option === 'string' && option !== '') return option
  if (target.kind === 'file') return defaultTokensFile(target.file)
  throw new TypeError('A PostgreSQL store has no file to keep tokens beside: pass --tokens PATH.')
}

export const serve: Command = {
  name: 'serve',
  summary:
    "Serve the store over HTTP (JSON API, change feed as Server-Sent Events, OpenAPI) for processes in any language; each request acts as its token's role.",
  usage:
    'tandem serve [store] [--port N] [--host H] [--socket PATH] [--allow-remote] [--role R] [--tokens PATH] [--body-limit BYTES] [--config PATH] [--json]',
  options: {
    port: { type: 'string', description: `TCP port (default ${DEFAULT_PORT}; 0 picks a free one)` },
    host: { type: 'string', description: 'address to listen on (default 127.0.0.1); another needs --allow-remote and tokens' },
    socket: { type: 'string', description: 'listen on this Unix socket instead (mode 0600)' },
    'allow-remote': { type: 'boolean', description: 'allow a non-loopback --host (put TLS in front)' },
    role: { type: 'string', description: 'the role the server registers as (default "serve"); requests act as their token\'s' },
    tokens: { type: 'string', description: 'the token file (default: <store file>.tokens.json)' },
    'body-limit': { type: 'string', description: 'largest request body in bytes (default 1048576)' },
    ...TARGET_OPTIONS,
  },
  examples: [
    'tandem serve data/app.db',
    'tandem serve --port 8080',
    'tandem serve --socket /run/app/tandem.sock',
    'tandem serve --host 0.0.0.0 --allow-remote',
  ],
  async run(ctx) {
    const [argument] = positionals(ctx, [], ['store'])
    // --port 0 asks for any free port (the banner and --json say which).
    const port = ctx.values.port === '0' ? 0 : integerOption(ctx.values.port, '--port', 65535)
    const bodyLimitBytes = integerOption(ctx.values['body-limit'], '--body-limit')
    const role = typeof ctx.values.role === 'string' ? ctx.values.role : 'serve'
    if (!ROLE.test(role))
      throw new TypeError(`--role must be a role name: 1 to 64 letters, digits or _ . : - (got ${JSON.stringify(role)}).`)
    const config = await requireConfig(ctx.values, 'serve')
    const target = await resolveTarget(ctx, argument)
    const tokensFile = tokensFileOf(target, ctx.values.tokens)
    // The server registers as its own role; each request acts as its token's (see store.as()).
    const store = await openWritable(target, config, role, true)
    try {
      // Loaded here, not at the top: the other commands never pay for Fastify's import.
      const { serveStore } = await import('../../server/serve-store.js')
      const server = await serveStore(store, {
        tokensFile,
        ...(port === undefined ? {} : { port }),
        ...(typeof ctx.values.host === 'string' ? { host: ctx.values.host } : {}),
        ...(typeof ctx.values.socket === 'string' ? { socket: ctx.values.socket } : {}),
        ...(bodyLimitBytes === undefined ? {} : { bodyLimitBytes }),
        allowRemote: ctx.values['allow-remote'] === true,
      })
      if (ctx.json) ctx.result({ url: server.url, pid: process.pid, tokensFile })
      ctx.note(`Serving ${describeTarget(target)} on ${server.url} (tokens: ${tokensFile}); Ctrl-C stops.`)
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve)
        process.once('SIGTERM', resolve)
      })
      ctx.note('Stopping: ending change streams, finishing requests in flight.')
      await server.close()
    } finally {
      await store.close()
    }
    return EXIT.ok
  },
}
