// A `tandem serve` equivalent for test/server: opens the store at { dataDir, path } with the
// shared test definition and serves it (serveStore) on { port } or { socket }, then reports
// 'listening' with its url. Runs until killed (the tests kill it with SIGKILL on purpose) or told
// to 'stop' (a graceful close).
import { openStore } from 'tandemdb'
import { serveStore } from 'tandemdb/server'
import { z } from 'zod'
import { command, failOnCrash, report, workerArgs } from './channel.mjs'

failOnCrash()
const { dataDir, path, port, socket, tokensFile, requestTimeoutMs, bodyLimitBytes } = workerArgs()
const store = await openStore({
  dataDir,
  path,
  role: 'serve',
  roles: { serve: {}, dashboard: {} },
  collections: {
    projects: { writers: ['server'], indexes: ['name'] },
    sessions: { writers: ['daemon'], schema: z.object({ projectId: z.string(), startedAt: z.number() }) },
    notes: { writers: '*' },
  },
})
const server = await serveStore(store, {
  tokensFile,
  ...(socket === undefined ? { port: port ?? 0 } : { socket }),
  ...(requestTimeoutMs === undefined ? {} : { requestTimeoutMs }),
  ...(bodyLimitBytes === undefined ? {} : { bodyLimitBytes }),
})
report({ type: 'listening', url: server.url, port: server.port })
await command('stop')
await server.close()
await store.close()
report({ type: 'stopped' })
