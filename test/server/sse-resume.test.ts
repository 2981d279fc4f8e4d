import { join } from 'node:path'
import { expect, test } from 'vitest'
import { openRemoteStore } from '../../src/client.js'
import { openStore, type Change } from '../../src/index.js'
import { tempDir } from '../helpers/backends.js'
import { call, startServer } from './serve-helpers.js'

// The change feed over SSE survives the server: a client reconnects with Last-Event-ID (the
// change-log seq) and a durable consumer resumes after its last ack, across a SIGKILL and restart.

const collections = { projects: { writers: ['server'] }, sessions: { writers: ['daemon'] }, notes: { writers: '*' } } as const
const roles = { local: {} }

async function drain(stream: AsyncIterator<Change>, into: Change[], n: number): Promise<void> {
  while (into.length < n) {
    const next = await stream.next()
    if (next.done === true) throw new Error(`the stream ended after ${into.length} of ${n} changes`)
    into.push(next.value)
  }
}

test('a change stream resumes after a server restart with no change lost or repeated', async () => {
  const dir = tempDir()
  const socket = join(dir, 'tandem.sock')
  let served = await startServer({ socket }, dir)
  const client = await openRemoteStore(served.url, { token: served.tokens.server })
  const interrupted: unknown[] = []
  const resumed: unknown[] = []
  const feed = client.changes({ since: 'beginning', onInterrupted: (e) => interrupted.push(e), onResume: (r) => resumed.push(r) })
  const got: Change[] = []
  for (let i = 0; i < 5; i++) await client.collection('notes').insert({ i })
  await drain(feed, got, 5)

  served.worker.kill('SIGKILL')
  await served.worker.exited
  // While no server runs, another process writes the store directly.
  const local = await openStore({ dataDir: dir, path: 'store.db', role: 'local', collections, roles })
  for (let i = 5; i < 10; i++) await local.collection('notes').insert({ i })
  await local.close()
  served = await startServer({ socket }, dir, served.tokens)
  for (let i = 10; i < 15; i++) await client.collection('notes').insert({ i })
  await drain(feed, got, 15)

  expect(got.map((c) => c.seq)).toEqual(Array.from({ length: 15 }, (_, k) => k + 1))
  expect(got.map((c) => c.data!.i)).toEqual(Array.from({ length: 15 }, (_, k) => k))
  expect(interrupted.length).toBeGreaterThanOrEqual(1)
  expect(resumed.length).toBeGreaterThanOrEqual(1)
  feed.close()
  await client.close()

  // The raw protocol: Last-Event-ID wins over since.
  const raw = await fetchEvents(served.url, served.tokens.server, { 'last-event-id': '12' }, 3)
  expect(raw.map((e) => e.id)).toEqual(['13', '14', '15'])
})

test('a durable consumer resumes after its last ack when the server is killed and restarted', async () => {
  const dir = tempDir()
  const socket = join(dir, 'tandem.sock')
  let served = await startServer({ socket }, dir)
  const client = await openRemoteStore(served.url, { token: served.tokens.server })
  for (let i = 0; i < 6; i++) await client.collection('notes').insert({ i })
  const mailer = client.consumer('mailer', { start: 'beginning' })
  const stream = await mailer.changes()
  const got: Change[] = []
  await drain(stream, got, 4)
  await mailer.ack(got[2]!.seq) // the fourth is received but not acknowledged

  served.worker.kill('SIGKILL')
  await served.worker.exited
  served = await startServer({ socket }, dir, served.tokens)
  for (let i = 6; i < 8; i++) await client.collection('notes').insert({ i })
  // The same stream reconnects: the server restarts it at the last ack, and what this stream had
  // already received (the fourth) is not delivered twice.
  await drain(stream, got, 8)
  expect(got.map((c) => c.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
  await mailer.ack(8)
  await mailer.close()

  // Another client taking over the consumer starts after the last ack: nothing before it again.
  await mailer.close()
  const other = await openRemoteStore(served.url, { token: served.tokens.daemon })
  await other.collection('notes').insert({ i: 8 })
  const next = await (await other.consumer('mailer').changes()).next()
  expect(next.value?.seq).toBe(9)
  await other.close()
  await client.close()
})

/** Reads `n` change events from GET /v1/changes with the given headers. */
async function fetchEvents(
  url: string,
  token: string,
  headers: Record<string, string>,
  n: number,
): Promise<{ id: string; data: string }[]> {
  const { request } = await import('node:http')
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath: url.slice(5), path: '/v1/changes?since=beginning', headers: { authorization: `Bearer ${token}`, ...headers } },
      (res) => {
        let text = ''
        const events: { id: string; data: string }[] = []
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          text += chunk
          for (const block of text.split('\n\n').slice(0, -1)) {
            const id = /^id: (\d+)$/m.exec(block)?.[1]
            if (id !== undefined && !events.some((e) => e.id === id)) events.push({ id, data: /^data: (.*)$/m.exec(block)![1]! })
          }
          if (events.length >= n) {
            req.destroy()
            resolve(events.slice(0, n))
          }
        })
      },
    )
    req.on('error', (error) => (error.message.includes('aborted') ? undefined : reject(error)))
    req.end()
  })
}

test('GET /v1/changes with a Last-Event-ID that is not a seq is refused', async () => {
  const served = await startServer()
  const answer = await call(served.url, 'GET', '/v1/changes', { token: served.tokens.server, headers: { 'last-event-id': 'abc' } })
  expect([answer.status, answer.body.error.code]).toEqual([400, 'INVALID_REQUEST'])
  expect((await call(served.url, 'GET', '/v1/health')).status).toBe(200)
})
