import { connect } from 'node:net'
import { readFileSync, statSync } from 'node:fs'
import { Agent } from 'node:http'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { openStore } from '../../src/index.js'
import { createToken, revokeToken, serveStore } from '../../src/server.js'
import { tempDir } from '../helpers/backends.js'
import { waitUntil } from '../helpers/processes.js'
import { call, startServer } from './serve-helpers.js'

// The HTTP API of `tandem serve` against a real server in a child process (docs/http-api.md).

describe('records over HTTP', () => {
  test('insert, get, put, patch, find, count and delete act as the library does', async () => {
    const { url, tokens } = await startServer()
    const t = tokens.server
    const inserted = await call(url, 'POST', '/v1/collections/projects/records', { token: t, body: { id: 'p1', data: { name: 'tandem' } } })
    expect(inserted.status).toBe(201)
    expect(inserted.body).toMatchObject({ id: 'p1', version: 1, role: 'server', data: { name: 'tandem' } })
    expect((await call(url, 'GET', '/v1/collections/projects/records/p1', { token: t })).body).toEqual(inserted.body)
    const missing = await call(url, 'GET', '/v1/collections/projects/records/nope', { token: t })
    expect([missing.status, missing.body.error.code]).toEqual([404, 'NOT_FOUND'])

    const patched = await call(url, 'PATCH', '/v1/collections/projects/records/p1', { token: t, body: { set: { stars: 3 }, ifVersion: 1 } })
    expect([patched.status, patched.body.version, patched.body.data]).toEqual([200, 2, { name: 'tandem', stars: 3 }])
    const removed = await call(url, 'PATCH', '/v1/collections/projects/records/p1', { token: t, body: { remove: ['stars'] } })
    expect(removed.body.data).toEqual({ name: 'tandem' })
    const created = await call(url, 'PUT', '/v1/collections/projects/records/p2', { token: t, body: { data: { name: 'b' } } })
    expect([created.status, created.body.version]).toEqual([201, 1])
    const replaced = await call(url, 'PUT', '/v1/collections/projects/records/p2', {
      token: t,
      body: { data: { name: 'c' }, mode: 'replace' },
    })
    expect([replaced.status, replaced.body.version]).toEqual([200, 2])
    const notThere = await call(url, 'PUT', '/v1/collections/projects/records/p3', {
      token: t,
      body: { data: { name: 'x' }, mode: 'replace' },
    })
    expect(notThere.body.error.code).toBe('NOT_FOUND')

    const found = await call(url, 'POST', '/v1/collections/projects/find', { token: t, body: { where: { name: 'c' } } })
    expect(found.body.records.map((r: { id: string }) => r.id)).toEqual(['p2'])
    const page = await call(url, 'GET', `/v1/collections/projects/records?limit=1&orderBy=-name`, { token: t })
    expect(page.body.records.map((r: { id: string }) => r.id)).toEqual(['p1'])
    const next = await call(url, 'GET', `/v1/collections/projects/records?limit=1&orderBy=-name&after=${page.body.next}`, { token: t })
    expect([next.body.records[0].id, next.body.next]).toEqual(['p2', null])
    expect((await call(url, 'POST', '/v1/collections/projects/count', { token: t, body: {} })).body).toEqual({ count: 2 })

    expect((await call(url, 'DELETE', '/v1/collections/projects/records/p2', { token: t })).body).toEqual({ deleted: true })
    expect((await call(url, 'DELETE', '/v1/collections/projects/records/p2', { token: t })).body).toEqual({ deleted: false })
  })

  test('ifVersion: a stale write is 409 VERSION_CONFLICT with expected and actual, and changes nothing', async () => {
    const { url, tokens } = await startServer()
    const t = tokens.server
    await call(url, 'POST', '/v1/collections/projects/records', { token: t, body: { id: 'p1', data: { name: 'a' } } })
    await call(url, 'PATCH', '/v1/collections/projects/records/p1', { token: t, body: { set: { name: 'b' } } })
    for (const [method, path, body] of [
      ['PATCH', '/v1/collections/projects/records/p1', { set: { name: 'stale' }, ifVersion: 1 }],
      ['PUT', '/v1/collections/projects/records/p1', { data: { name: 'stale' }, ifVersion: 1 }],
      ['DELETE', '/v1/collections/projects/records/p1?ifVersion=1', undefined],
    ] as const) {
      const answer = await call(url, method, path, { token: t, ...(body === undefined ? {} : { body }) })
      expect(answer.status, method).toBe(409)
      expect(answer.body.error).toMatchObject({ code: 'VERSION_CONFLICT', collection: 'projects', id: 'p1', expected: 1, actual: 2 })
      expect(answer.body.error.hint).toEqual(expect.any(String))
    }
    expect((await call(url, 'GET', '/v1/collections/projects/records/p1', { token: t })).body).toMatchObject({
      version: 2,
      data: { name: 'b' },
    })
  })

  test('POST /v1/transaction applies every operation or none, and names the one that failed', async () => {
    const { url, tokens } = await startServer()
    const t = tokens.server
    const ok = await call(url, 'POST', '/v1/transaction', {
      token: t,
      body: {
        operations: [
          { op: 'insert', collection: 'projects', id: 'p1', data: { name: 'a' } },
          { op: 'insert', collection: 'notes', data: { text: 'about p1' } },
          { op: 'patch', collection: 'projects', id: 'p1', set: { name: 'b' }, ifVersion: 1 },
          { op: 'get', collection: 'projects', id: 'p1' },
        ],
      },
    })
    expect(ok.status).toBe(200)
    expect(ok.body.results[3]).toMatchObject({ id: 'p1', version: 2, data: { name: 'b' } })
    const failed = await call(url, 'POST', '/v1/transaction', {
      token: t,
      body: {
        operations: [
          { op: 'insert', collection: 'notes', data: { text: 'must vanish' } },
          { op: 'delete', collection: 'projects', id: 'p1' },
          { op: 'insert', collection: 'projects', id: 'p1', data: { name: 'again' } },
          { op: 'patch', collection: 'projects', id: 'p1', set: { name: 'x' }, ifVersion: 7 },
        ],
      },
    })
    expect(failed.status).toBe(409)
    expect(failed.body.error).toMatchObject({ code: 'VERSION_CONFLICT', index: 3 })
    expect((await call(url, 'POST', '/v1/collections/notes/count', { token: t, body: {} })).body.count).toBe(1)
    expect((await call(url, 'GET', '/v1/collections/projects/records/p1', { token: t })).body).toMatchObject({
      version: 2,
      data: { name: 'b' },
    })
  })

  test('an interactive transaction commits on commit and leaves nothing on rollback', async () => {
    const { url, tokens } = await startServer()
    const t = tokens.server
    for (const end of ['rollback', 'commit'] as const) {
      const { body } = await call(url, 'POST', '/v1/transactions', { token: t })
      const headers = { 'tandem-transaction': body.id as string }
      await call(url, 'POST', '/v1/collections/projects/records', { token: t, headers, body: { id: `p-${end}`, data: { name: end } } })
      // Inside, the write is visible; outside, not before commit.
      expect((await call(url, 'GET', `/v1/collections/projects/records/p-${end}`, { token: t, headers })).status).toBe(200)
      expect((await call(url, 'POST', `/v1/transactions/${body.id}/${end}`, { token: t })).body).toEqual({ committed: end === 'commit' })
      const after = await call(url, 'POST', '/v1/collections/projects/records', { token: t, headers, body: { data: { name: 'late' } } })
      expect([after.status, after.body.error.code]).toEqual([410, 'TRANSACTION_CLOSED'])
    }
    const found = await call(url, 'POST', '/v1/collections/projects/find', { token: t, body: {} })
    expect(found.body.records.map((r: { id: string }) => r.id)).toEqual(['p-commit'])
  })
})

describe('tokens and roles', () => {
  test("each request acts as its token's role: ownership is the store's, 401 without a valid token", async () => {
    const { url, tokens, tokensFile } = await startServer()
    const denied = await call(url, 'POST', '/v1/collections/projects/records', { token: tokens.dashboard, body: { data: { name: 'x' } } })
    expect(denied.status).toBe(403)
    expect(denied.body.error).toMatchObject({ code: 'NOT_OWNER', collection: 'projects', role: 'dashboard' })
    const daemon = await call(url, 'POST', '/v1/collections/sessions/records', {
      token: tokens.daemon,
      body: { data: { projectId: 'p', startedAt: 1 } },
    })
    expect([daemon.status, daemon.body.role]).toEqual([201, 'daemon'])
    expect(
      (
        await call(url, 'POST', '/v1/collections/sessions/records', {
          token: tokens.server,
          body: { data: { projectId: 'p', startedAt: 2 } },
        })
      ).status,
    ).toBe(403)
    // Reads are open to every role.
    expect((await call(url, 'POST', '/v1/collections/sessions/count', { token: tokens.dashboard, body: {} })).body.count).toBe(1)

    const none = await call(url, 'GET', '/v1/status')
    expect([none.status, none.body.error.code]).toEqual([401, 'UNAUTHORIZED'])
    const wrong = await call(url, 'GET', '/v1/status', { token: 'tdm_not-a-token' })
    expect([wrong.status, wrong.body.error.code]).toEqual([401, 'UNAUTHORIZED'])
    expect(JSON.stringify(wrong.body)).not.toContain('tdm_not-a-token')
    expect((await call(url, 'GET', '/v1/health')).body).toEqual({ ok: true })

    // Revoked while the server runs: refused from the next request; a new one works at once.
    expect((await call(url, 'GET', '/v1/status', { token: tokens.dashboard })).body.role).toBe('dashboard')
    revokeToken(
      tokensFile,
      (JSON.parse((await import('node:fs')).readFileSync(tokensFile, 'utf8')) as { tokens: { id: string; role: string }[] }).tokens.find(
        (x) => x.role === 'dashboard',
      )!.id,
    )
    expect((await call(url, 'GET', '/v1/status', { token: tokens.dashboard })).status).toBe(401)
    const fresh = createToken(tokensFile, 'dashboard', 'fresh').secret
    expect((await call(url, 'GET', '/v1/status', { token: fresh })).body.role).toBe('dashboard')
  })

  test('a token revoked while its keep-alive connection stays open is refused on that connection from the next request', async () => {
    const { url, tokensFile, tokens } = await startServer()
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    try {
      const status = (token: string) => call(url, 'GET', '/v1/status', { token, agent })
      const first = await status(tokens.daemon)
      expect([first.status, first.body.role]).toEqual([200, 'daemon'])
      const again = await status(tokens.daemon)
      expect([again.status, again.body.role, again.reusedSocket]).toEqual([200, 'daemon', true])
      // Another token on the same connection acts as its own role, not as the one before.
      const other = await status(tokens.dashboard)
      expect([other.status, other.body.role, other.reusedSocket]).toEqual([200, 'dashboard', true])
      expect((await status(tokens.daemon)).body.role).toBe('daemon')
      const daemonId = (JSON.parse(readFileSync(tokensFile, 'utf8')) as { tokens: { id: string; role: string }[] }).tokens.find(
        (x) => x.role === 'daemon',
      )!.id
      revokeToken(tokensFile, daemonId)
      const revoked = await status(tokens.daemon)
      expect([revoked.status, revoked.body.error.code, revoked.reusedSocket]).toEqual([401, 'UNAUTHORIZED', true])
      expect((await status(tokens.server)).body.role).toBe('server')
      expect((await status(tokens.daemon)).status).toBe(401)
    } finally {
      agent.destroy()
    }
  })

  test('the token file keeps only hashes, mode 0600', async () => {
    const dir = tempDir()
    const file = join(dir, 'tokens.json')
    const { secret } = createToken(file, 'daemon', 'd1')
    const text = (await import('node:fs')).readFileSync(file, 'utf8')
    expect(text).not.toContain(secret)
    expect(text).not.toContain(secret.slice(4, 20))
    expect(statSync(file).mode & 0o777).toBe(0o600)
  })
})

describe('hostile input', () => {
  test('each bad request gets its status and code, nothing is stored, and the server keeps serving', async () => {
    const { url, tokens } = await startServer({ bodyLimitBytes: 64 * 1024 })
    const t = tokens.server
    const cases: [
      string,
      { method?: string; path?: string; raw?: string | Buffer; body?: unknown; headers?: Record<string, string> },
      number,
      string,
    ][] = [
      ['malformed JSON', { raw: '{"data": {"name": ' }, 400, 'INVALID_JSON'],
      ['data of the wrong type', { body: { data: 'a string' } }, 400, 'INVALID_REQUEST'],
      ['an unknown field', { body: { data: { name: 'x' }, ifVerison: 1 } }, 400, 'INVALID_REQUEST'],
      ['a body over the limit', { body: { data: { name: 'x'.repeat(100 * 1024) } } }, 413, 'BODY_TOO_LARGE'],
      ['a __proto__ key', { raw: '{"data": {"__proto__": {"polluted": 1}}}' }, 400, 'INVALID_JSON'],
      [
        'bytes that are not UTF-8',
        { raw: Buffer.from([0x7b, 0x22, 0x64, 0x61, 0x74, 0x61, 0x22, 0x3a, 0x7b, 0x22, 0x6e, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d, 0x7d]) },
        400,
        'INVALID_JSON',
      ],
      ['a lone surrogate', { raw: '{"data": {"name": "\\ud800"}}' }, 422, 'INVALID_DATA'],
      [
        'a body that is not JSON',
        { raw: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      ['an unknown collection', { path: '/v1/collections/nope/records', body: { data: {} } }, 404, 'UNKNOWN_COLLECTION'],
      ['an unknown route', { path: '/v1/nothing/here', body: {} }, 404, 'ROUTE_NOT_FOUND'],
      ['a bad limit', { method: 'GET', path: '/v1/collections/projects/records?limit=abc' }, 400, 'INVALID_REQUEST'],
      ['a bad where', { path: '/v1/collections/projects/find', body: { where: { "x') OR 1=1 --": 1 } } }, 400, 'INVALID_QUERY'],
    ]
    for (const [what, request, status, code] of cases) {
      const answer = await call(url, request.method ?? 'POST', request.path ?? '/v1/collections/projects/records', { token: t, ...request })
      expect(answer.status, what).toBe(status)
      expect(answer.body?.error?.code, what).toBe(code)
      expect(answer.body.error.message, what).toEqual(expect.any(String))
    }
    expect((await call(url, 'POST', '/v1/collections/projects/count', { token: t, body: {} })).body.count).toBe(0)
    expect(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted')).toBe(false)
    expect((await call(url, 'POST', '/v1/collections/projects/records', { token: t, body: { data: { name: 'fine' } } })).status).toBe(201)
  })

  test('a client that stalls mid-request is cut off, while others are served', async () => {
    const { url, tokens } = await startServer({ requestTimeoutMs: 1000 })
    const port = Number(new URL(url).port)
    const socket = connect(port, '127.0.0.1')
    let closed = false
    let received = ''
    socket.on('data', (d: Buffer) => (received += d.toString()))
    socket.on('close', () => (closed = true))
    socket.on('error', () => undefined)
    await new Promise((resolve) => socket.once('connect', resolve))
    // Headers promise a body that never comes.
    socket.write(
      `POST /v1/collections/projects/records HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tokens.server}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"data":`,
    )
    expect((await call(url, 'GET', '/v1/health')).status).toBe(200)
    await waitUntil(() => closed, 'the server to close the stalled connection')
    expect(received).toMatch(/^HTTP\/1\.1 408/)
    expect((await call(url, 'POST', '/v1/collections/projects/count', { token: tokens.server, body: {} })).body.count).toBe(0)
  })

  test('hundreds of idle change streams stay open while the server keeps answering', async () => {
    const { url, tokens } = await startServer()
    const port = Number(new URL(url).port)
    const sockets = await Promise.all(
      Array.from({ length: 300 }, async () => {
        const socket = connect(port, '127.0.0.1')
        let text = ''
        socket.on('data', (d: Buffer) => (text += d.toString()))
        socket.on('error', () => undefined)
        await new Promise((resolve) => socket.once('connect', resolve))
        socket.write(`GET /v1/changes?since=now HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tokens.server}\r\n\r\n`)
        return { socket, text: () => text }
      }),
    )
    await waitUntil(() => sockets.every((s) => s.text().includes('event: ready')), 'every stream to be ready', {
      progress: () => sockets.filter((s) => s.text().includes('event: ready')).length,
    })
    const inserted = await call(url, 'POST', '/v1/collections/notes/records', { token: tokens.server, body: { data: { n: 1 } } })
    expect(inserted.status).toBe(201)
    await waitUntil(() => sockets.every((s) => s.text().includes(`"id":"${inserted.body.id}"`)), 'every stream to get the change', {
      progress: () => sockets.filter((s) => s.text().includes(inserted.body.id)).length,
    })
    for (const s of sockets) s.socket.destroy()
    expect((await call(url, 'GET', '/v1/health')).status).toBe(200)
  })
})

describe('the server itself', () => {
  test('/openapi.json describes every collection, with the JSON Schema its validator exports, and the error codes', async () => {
    const { url, tokens } = await startServer()
    const { status, body } = await call(url, 'GET', '/openapi.json', { token: tokens.dashboard })
    expect(status).toBe(200)
    expect(body.openapi).toBe('3.1.0')
    expect(Object.keys(body.paths)).toEqual(
      expect.arrayContaining([
        '/v1/collections/projects/records',
        '/v1/collections/sessions/records/{id}',
        '/v1/transaction',
        '/v1/changes',
      ]),
    )
    expect(body.components.schemas.sessionsData).toMatchObject({
      type: 'object',
      properties: { projectId: { type: 'string' } },
      required: ['projectId', 'startedAt'],
    })
    expect(body.components.schemas.projectsData).toEqual({ type: 'object' })
    expect(body.components.schemas.Error.properties.error.properties.code.enum).toEqual(
      expect.arrayContaining(['VERSION_CONFLICT', 'NOT_OWNER', 'UNAUTHORIZED']),
    )
  })

  test('a Unix socket is created 0600; a non-loopback host is refused without --allow-remote and without tokens', async () => {
    const dir = tempDir()
    const socket = join(dir, 'tandem.sock')
    const { url, tokens } = await startServer({ socket }, dir)
    expect(url).toBe(`unix:${socket}`)
    expect(statSync(socket).mode & 0o777).toBe(0o600)
    expect((await call(url, 'GET', '/v1/status', { token: tokens.server })).body.role).toBe('server')

    const store = await openStore({ dataDir: tempDir(), path: 's.db', role: 'serve', collections: { notes: { writers: '*' } } })
    try {
      await expect(serveStore(store, { host: '0.0.0.0', port: 0 })).rejects.toThrow(/allowRemote|--allow-remote/)
      await expect(serveStore(store, { host: '0.0.0.0', port: 0, allowRemote: true })).rejects.toThrow(/without any token/)
    } finally {
      await store.close()
    }
  })
})
