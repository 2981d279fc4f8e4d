// A server for bench/serve.mjs, in its own process. argv: kind, folder.
// - tandem, tandem-full: `tandem serve` as a program would run it (openStore + serveStore) on
//   <dir>/tandem.db (durability 'normal') or <dir>/tandem-full.db (durability 'full').
// - raw, raw-full: a plain node:http server whose POST /v1/collections/items/records does the same
//   insert with better-sqlite3 (WAL, synchronous=NORMAL or FULL, one autocommit INSERT per request)
//   and answers the record as JSON: the baseline a hand-written service would be.
// - raw-nodb: that node:http server parsing the body and answering the record without any
//   database: the ceiling of a Node HTTP server on this machine with this load generator.
// - tandem-nodb: tandem serve's HTTP stack (Fastify, the token check, the body's schema, the
//   UTF-8 and JSON checks, the answer) on a route that answers the record without writing it:
//   what the server costs before the store. The route is added for the benchmark only, through
//   the server's internal startServer (not part of the public API).
// Reports { type: 'listening', port, token, path } on stdout; on 'mem' over IPC answers
// process.memoryUsage(); on 'exit' exits (so that --cpu-prof can write its profile).
import { createServer } from 'node:http'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import { openStore } from 'tandemdb'
import { createToken, serveStore } from 'tandemdb/server'
import { openRaw } from './lib.mjs'

const [kind, dir] = process.argv.slice(2)
const INSERT_PATH = '/v1/collections/items/records'

/** A record as the raw servers answer it: shaped like Tandem's. */
function recordOf(data, now = Date.now()) {
  return {
    id: randomUUID(),
    version: 1,
    createdAt: new Date(now).toISOString(),
    updatedAt: new Date(now).toISOString(),
    role: 'bench',
    data,
  }
}

async function tandem(file, durability, nodb) {
  const store = await openStore({ dataDir: dir, path: file, role: 'serve', durability, collections: { items: { writers: '*' } } })
  const tokensFile = join(dir, `${file}.tokens.json`)
  const { secret } = createToken(tokensFile, 'bench')
  if (!nodb) return { port: (await serveStore(store, { port: 0, tokensFile })).port, token: secret, path: INSERT_PATH }
  // serveStore's own steps, plus one route that answers without the store.
  const { startServer } = await import('../dist/server/serve-store.js')
  const { TokenVerifier } = await import('../dist/server/tokens.js')
  const { BODY } = await import('../dist/server/operations.js')
  const params = { type: 'object', properties: { collection: { type: 'string', minLength: 1 } } }
  const server = await startServer(store, { port: 0, host: '127.0.0.1' }, new TokenVerifier(tokensFile), (app) => {
    app.post('/bench/nodb/:collection/records', { schema: { params, body: BODY.insert } }, async (request, reply) =>
      reply.code(201).send({ ...recordOf(request.body.data), role: request.role }),
    )
  })
  return { port: server.port, token: secret, path: '/bench/nodb/items/records' }
}

async function raw(file, synchronous) {
  const insert =
    file === undefined
      ? undefined
      : openRaw(join(dir, file), { synchronous }).prepare(
          'INSERT INTO items (id, version, created_at, updated_at, role, data) VALUES (?, 1, ?, ?, ?, ?)',
        )
  const server = createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      try {
        const { data } = JSON.parse(Buffer.concat(chunks).toString('utf8'))
        const now = Date.now()
        const record = recordOf(data, now)
        insert?.run(record.id, now, now, 'bench', JSON.stringify(data))
        const body = JSON.stringify(record)
        res.writeHead(201, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
        res.end(body)
      } catch (error) {
        res.writeHead(400).end(String(error))
      }
    })
  })
  server.keepAliveTimeout = 5000
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { port: server.address().port, token: 'none', path: INSERT_PATH }
}

const servers = {
  tandem: () => tandem('tandem.db', 'normal', false),
  'tandem-full': () => tandem('tandem-full.db', 'full', false),
  'tandem-nodb': () => tandem('tandem-nodb.db', 'normal', true),
  raw: () => raw('raw.db', 'NORMAL'),
  'raw-full': () => raw('raw-full.db', 'FULL'),
  'raw-nodb': () => raw(undefined),
}
if (servers[kind] === undefined) throw new RangeError(`Unknown server kind ${kind}; one of ${Object.keys(servers).join(', ')}.`)
console.log(JSON.stringify({ type: 'listening', ...(await servers[kind]()) }))
process.on('message', (m) => {
  if (m === 'exit') process.exit(0)
  if (m === 'mem') {
    globalThis.gc?.()
    process.send({ type: 'mem', ...process.memoryUsage() })
  }
})
