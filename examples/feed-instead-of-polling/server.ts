// The API server: takes tasks over HTTP and pushes each result to its clients as a server-sent
// event the moment the daemon commits it. It used to re-query the results table on a timer (and
// its clients polled it in turn); now it watches the results collection, in any process's commits.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { openStore, TandemError } from 'tandemdb'
import { disconnect, receive, send } from '../shared/child.ts'
import definition from './store.ts'

export type ServerMessage = { type: 'listening'; port: number }

const store = await openStore({ ...definition, role: 'server' })
const tasks = store.collection('tasks')
const results = store.collection('results')
const clients = new Set<ServerResponse>()

// Every committed result, from whichever process, as it commits: no timer, no "since" bookkeeping.
const stopWatching = results.watch((change) => {
  if (change.op !== 'insert') return
  for (const client of clients) client.write(`data: ${JSON.stringify({ taskId: change.id, seq: change.seq })}\n\n`)
})

async function readJson(req: IncomingMessage): Promise<unknown> {
  let body = ''
  for await (const chunk of req) body += String(chunk)
  return JSON.parse(body)
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
}

const server = createServer((req, res) => {
  void (async () => {
    const task = /^\/tasks\/([^/]+)$/.exec(req.url ?? '')
    if (req.method === 'POST' && req.url === '/tasks') {
      const created = await tasks.insert((await readJson(req)) as { title: string; needsApproval: boolean })
      reply(res, 201, { id: created.id })
    } else if (req.method === 'GET' && task !== null) {
      const [record, result] = await Promise.all([tasks.get(task[1]!), results.get(task[1]!)])
      if (record === undefined) reply(res, 404, { error: 'no such task' })
      else reply(res, 200, { task: record, result: result ?? null })
    } else if (req.method === 'GET' && req.url === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' }).flushHeaders()
      clients.add(res)
      req.on('close', () => clients.delete(res))
    } else reply(res, 404, { error: 'not found' })
  })().catch((error: unknown) => {
    // The library's errors carry a stable code and a hint: pass them on to the client.
    if (error instanceof TandemError) reply(res, error.code === 'SCHEMA_INVALID' ? 400 : 500, { code: error.code, message: error.message })
    else reply(res, 400, { message: String(error) })
  })
})

server.listen(0, '127.0.0.1', () => {
  const address = server.address()
  void send<ServerMessage>({ type: 'listening', port: typeof address === 'object' && address !== null ? address.port : 0 })
})

await receive('stop')
stopWatching()
for (const client of clients) client.end()
server.close()
server.closeAllConnections()
await store.close()
disconnect()
