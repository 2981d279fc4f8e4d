// `clients` concurrent HTTP clients, each on its own connection, inserting records into `notes`
// with ids c<k>-<i> until stopped; every fifth write is a session that the schema refuses (422).
// Reports each outcome as it is known: 'ack' (2xx), 'refused' (an HTTP error answer), 'unknown'
// (the connection failed: the write may or may not have happened). After the server dies, each
// client stops at its first failure.
import { Agent, request } from 'node:http'
import { command, failOnCrash, report, workerArgs } from './channel.mjs'

failOnCrash()
const { port, token, clients } = workerArgs()
let stopping = false
void command('stop').then(() => (stopping = true))

function post(agent, path, body) {
  const payload = JSON.stringify(body)
  return new Promise((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        agent,
        method: 'POST',
        path,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        res.resume()
        res.on('end', () => resolve({ status: res.statusCode }))
        res.on('error', () => resolve({ status: 0 }))
      },
    )
    req.on('error', () => resolve({ status: 0 }))
    req.end(payload)
  })
}

async function client(k) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  for (let i = 0; !stopping; i++) {
    const bad = i % 5 === 4
    const id = bad ? `bad-${k}-${i}` : `c${k}-${i}`
    const { status } = bad
      ? await post(agent, '/v1/collections/sessions/records', { id, data: { projectId: 42 } })
      : await post(agent, '/v1/collections/notes/records', { id, data: { k, i } })
    if (status >= 200 && status < 300) report({ type: 'ack', id })
    else if (status > 0) report({ type: 'refused', id, status })
    else {
      report({ type: 'unknown', id })
      break
    }
  }
  agent.destroy()
}

report({ type: 'ready' })
await Promise.all(Array.from({ length: clients }, (_, k) => client(k)))
report({ type: 'done' })
