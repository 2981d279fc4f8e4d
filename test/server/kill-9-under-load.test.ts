import { expect, test } from 'vitest'
import { openStore } from '../../src/index.js'
import { forkWorker, waitUntil } from '../helpers/processes.js'
import { startServer } from './serve-helpers.js'

// A server killed with SIGKILL while 50 HTTP clients write: every write that got a 2xx is in the
// store afterwards, and no write that got an error answer is. Writes whose connection died before
// an answer may or may not be there (the client was told nothing), and are only counted.
test('kill -9 of the server under 50 concurrent writing clients loses no acknowledged write and keeps no refused one', async () => {
  const { url, worker: server, dir, tokens } = await startServer()
  const port = Number(new URL(url).port)
  const writers = forkWorker('http-writers.mjs', { port, token: tokens.daemon, clients: 50 })
  await writers.waitFor('ready')
  const count = (type: string) => writers.messages.filter((m) => m.type === type).length
  await waitUntil(() => count('ack') >= 1500 && count('refused') >= 100, '1500 acknowledged writes and 100 refused ones', {
    progress: () => writers.messages.length,
  })
  server.kill('SIGKILL')
  await server.exited
  await writers.waitFor('done')

  const acked = writers.messages.filter((m) => m.type === 'ack').map((m) => m.id as string)
  const refused = writers.messages.filter((m) => m.type === 'refused')
  const unknown = writers.messages.filter((m) => m.type === 'unknown').length
  expect(refused.every((m) => m.status === 422)).toBe(true)
  expect(unknown).toBeLessThanOrEqual(50)

  const store = await openStore({
    dataDir: dir,
    path: 'store.db',
    role: 'check',
    collections: { notes: { writers: '*' }, sessions: { writers: ['daemon'] } },
    roles: { check: {} },
  })
  try {
    const notes = new Set((await store.collection('notes').find()).map((r) => r.id))
    const missing = acked.filter((id) => !notes.has(id))
    expect(missing, `${missing.length} of ${acked.length} acknowledged writes missing`).toEqual([])
    expect(await store.collection('sessions').count()).toBe(0)
    expect(notes.size - acked.length).toBeLessThanOrEqual(unknown)
    expect(await store.checkIntegrity()).toEqual(['ok'])
  } finally {
    await store.close()
  }
})
