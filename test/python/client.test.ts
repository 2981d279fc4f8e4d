import { join } from 'node:path'
import { expect, test } from 'vitest'
import { tempDir } from '../helpers/backends.js'
import { LAST_RESORT_TIMEOUT_MS, waitUntil } from '../helpers/processes.js'
import { call, startServer } from '../server/serve-helpers.js'
import { pythonOk, repoFile, runPython } from './python-helpers.js'

// clients/python/tandem_client.py (standard library only) against a real `tandem serve` in a child
// process (test/workers/http-server.mjs: projects written by "server", sessions by "daemon" with a
// schema, notes by anyone), driven by test/python/client_scenarios.py.

const SCENARIOS = repoFile('test/python/client_scenarios.py')

test('CRUD, find with where/orderBy/limit and cursor pages, deletes and an all-or-nothing transaction', async () => {
  const served = await startServer()
  const messages = await pythonOk(SCENARIOS, ['crud', served.url, served.tokens.server])
  expect(messages.find((m) => m.type === 'duplicate')).toMatchObject({ code: 'DUPLICATE_ID', status: 409 })
  expect(messages.find((m) => m.type === 'tx-conflict')).toMatchObject({
    code: 'VERSION_CONFLICT',
    cls: 'ConflictError',
    status: 409,
    index: 1,
    expected: 1,
    actual: 4,
  })
  // 2 + 1 upserted - 1 deleted + 7 paged + t-1; the failed transaction's t-2 is not there.
  expect(messages.find((m) => m.type === 'crud')).toMatchObject({ count: 10 })
  expect(messages.at(-1)).toEqual({ type: 'done' })
})

test('a stale if_version is a ConflictError with the expected and actual versions, on patch, put and delete', async () => {
  const served = await startServer()
  const messages = await pythonOk(SCENARIOS, ['conflict', served.url, served.tokens.daemon])
  const conflicts = messages.filter((m) => m.type === 'conflict')
  expect(conflicts.map((c) => c.op)).toEqual(['patch', 'put', 'delete'])
  for (const c of conflicts) {
    expect(c).toMatchObject({ code: 'VERSION_CONFLICT', cls: 'ConflictError', status: 409, expected: 1, actual: 2, collection: 'notes' })
    expect(c.hint).toEqual(expect.any(String))
  }
})

test("a token acts as its role: the dashboard's writes to collections it does not own are refused with NOT_OWNER", async () => {
  const served = await startServer()
  const dashboard = await pythonOk(SCENARIOS, ['ownership', served.url, served.tokens.dashboard, 'dashboard'])
  expect(dashboard.find((m) => m.type === 'status')).toMatchObject({ role: 'dashboard' })
  const refused = dashboard.filter((m) => m.type === 'refused')
  expect(refused.map((m) => m.collection)).toEqual(['projects', 'sessions'])
  for (const m of refused) {
    expect(m).toMatchObject({ code: 'NOT_OWNER', cls: 'NotOwnerError', status: 403, role: 'dashboard' })
    expect(m.message).toContain('dashboard')
  }
  expect(dashboard.find((m) => m.type === 'refused' && m.collection === 'projects')?.writers).toEqual(['server'])

  // The daemon owns sessions: its write goes through, and the schema still applies to it.
  const daemon = await pythonOk(SCENARIOS, ['ownership', served.url, served.tokens.daemon, 'daemon'])
  expect(daemon.filter((m) => m.type === 'written').map((m) => m.collection)).toEqual(['sessions'])
  expect(daemon.find((m) => m.type === 'invalid')).toMatchObject({ code: 'SCHEMA_INVALID', cls: 'ValidationError', status: 422 })
  expect((daemon.find((m) => m.type === 'invalid')?.issues as unknown[]).length).toBeGreaterThan(0)

  const none = await pythonOk(SCENARIOS, ['unauthorized', served.url, 'tdm_not-a-token'])
  expect(none.find((m) => m.type === 'unauthorized')).toMatchObject({ code: 'UNAUTHORIZED', status: 401 })

  // Nothing the refused writes tried is stored.
  const found = await call(served.url, 'POST', '/v1/collections/projects/count', { token: served.tokens.server, body: {} })
  expect(found.body).toEqual({ count: 0 })
})

test(
  'the SSE feed resumes with Last-Event-ID across a server killed and restarted: no change lost or repeated',
  { timeout: LAST_RESORT_TIMEOUT_MS },
  async () => {
    const dir = tempDir()
    const socket = join(dir, 'tandem.sock')
    let served = await startServer({ socket }, dir)
    const insert = async (i: number) => {
      const reply = await call(served.url, 'POST', '/v1/collections/notes/records', { token: served.tokens.server, body: { data: { i } } })
      expect(reply.status).toBe(201)
    }
    const feed = runPython(SCENARIOS, ['feed', served.url, served.tokens.dashboard, '12', 'beginning'])
    for (let i = 0; i < 6; i++) await insert(i)
    await waitUntil(() => feed.messages.filter((m) => m.type === 'change').length === 6, 'the first 6 changes in Python')

    served.worker.kill('SIGKILL')
    await served.worker.exited
    served = await startServer({ socket }, dir, served.tokens)
    for (let i = 6; i < 12; i++) await insert(i)
    await feed.waitFor('done')
    const { code } = await feed.exited
    expect(code, feed.stderr()).toBe(0)

    const changes = feed.messages.filter((m) => m.type === 'change')
    expect(changes.map((c) => c.seq)).toEqual(Array.from({ length: 12 }, (_, k) => k + 1))
    expect(changes.map((c) => (c.data as { i: number }).i)).toEqual(Array.from({ length: 12 }, (_, k) => k))
    const end = feed.messages.find((m) => m.type === 'feed-end')!
    expect(end.reconnects as number).toBeGreaterThanOrEqual(1)
    expect(end.position).toBe(12)
  },
)

test('a durable consumer resumes after its last ack in the next Python run', async () => {
  const served = await startServer()
  for (let i = 0; i < 6; i++)
    await call(served.url, 'POST', '/v1/collections/notes/records', { token: served.tokens.server, body: { data: { i } } })
  // The first run receives 4 changes and acknowledges the first 3.
  const first = await pythonOk(SCENARIOS, ['consume', served.url, served.tokens.dashboard, 'mailer', '4', '3'])
  expect(first.filter((m) => m.type === 'change').map((m) => m.seq)).toEqual([1, 2, 3, 4])
  expect(first.find((m) => m.type === 'consumer-end')).toMatchObject({ position: 3 })
  // The next starts after the last ack: the fourth again (at-least-once), then the rest.
  const second = await pythonOk(SCENARIOS, ['consume', served.url, served.tokens.dashboard, 'mailer', '3', '6'])
  expect(second.filter((m) => m.type === 'change').map((m) => m.seq)).toEqual([4, 5, 6])
  expect(second.find((m) => m.type === 'consumer-end')).toMatchObject({ position: 6 })
})
