// A server for bench/serve.mjs, in its own process. argv: kind (tandem | raw), folder.
// - tandem: `tandem serve` as a program would run it (openStore + serveStore) on <dir>/tandem.db.
// - raw: a plain node:http server whose POST /v1/collections/items/records does the same insert
//   with better-sqlite3 (WAL, synchronous=NORMAL, one autocommit INSERT per request) and answers
//   the record as JSON: the baseline a hand-written service would be.
// Reports { type: 'listening', port } on stdout; on 'mem' over IPC answers process.memoryUsage().
import { createServer } from 'node:http'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import { openStore } from 'tandemdb'
import { createToken, serveStore } from 'tandemdb/server'
import { openRaw } from './lib.mjs'

const [kind, dir] = process.argv.slice(2)
let port
if (kind === 'tandem') {
  const store = await openStore({ dataDir: dir, path: 'tandem.db', role: 'serve', collections: { items: { writers: '*' } } })
  const tokensFile = join(dir, 'tandem.db.tokens.json')
  const { secret } = createToken(tokensFile, 'bench')
  process.env.BENCH_TOKEN = secret
  const server = await serveStore(store, { port: 0, tokensFile })
  port = server.port
  console.log(JSON.stringify({ type: 'listening', port, token: secret }))
} else {
  const db = openRaw(join(dir, 'raw.db'))
  const insert = db.prepare('INSERT INTO items (id, version, created_at, updated_at, role, data) VALUES (?, 1, ?, ?, ?, ?)')
  const server = createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      try {
        const { data } = JSON.parse(Buffer.concat(chunks).toString('utf8'))
        const now = Date.now()
        const record = {
          id: randomUUID(),
          version: 1,
          createdAt: new Date(now).toISOString(),
          updatedAt: new Date(now).toISOString(),
          role: 'bench',
          data,
        }
        insert.run(record.id, now, now, 'bench', JSON.stringify(data))
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
  port = server.address().port
  console.log(JSON.stringify({ type: 'listening', port, token: 'none' }))
}
process.on('message', (m) => {
  if (m === 'mem') {
    globalThis.gc?.()
    process.send({ type: 'mem', ...process.memoryUsage() })
  }
})
