// The server side of the `remote` conformance target (test/helpers/backends.ts): on
// { type: 'cmd', action: 'open', key, config } it opens a store in `dir` with that config (as
// another process would), creates a token for the config's role, serves the store with
// serveStore on a free port, and reports 'opened' with the url and token (or the open's error).
// Schemas arrive as JSON Schema and are rebuilt with zod's fromJSONSchema. On 'close' it stops
// that server and closes its store.
import { join } from 'node:path'
import { openStore } from 'tandemdb'
import { createToken, serveStore } from 'tandemdb/server'
import { z } from 'zod'
import { command, describeError, failOnCrash, report, workerArgs } from './channel.mjs'

failOnCrash()
const { dir } = workerArgs()
const served = new Map()

function revive(config) {
  const collections = {}
  for (const [name, c] of Object.entries(config.collections)) {
    const { jsonSchema, ...rest } = c
    collections[name] = jsonSchema === undefined ? rest : { ...rest, schema: z.fromJSONSchema(jsonSchema) }
  }
  return { ...config, collections }
}

report({ type: 'ready', pid: process.pid })
for (;;) {
  const cmd = await command('cmd')
  if (cmd.action === 'open') {
    try {
      const store = await openStore({ ...revive(cmd.config), dataDir: dir, path: 'store.db' })
      try {
        const tokensFile = join(dir, `tokens-${cmd.key}.json`)
        const { secret } = createToken(tokensFile, store.role)
        const server = await serveStore(store, { port: 0, tokensFile, transactionIdleMs: 60_000 })
        served.set(cmd.key, { store, server })
        report({ type: 'opened', key: cmd.key, url: server.url, token: secret })
      } catch (error) {
        await store.close()
        throw error
      }
    } catch (error) {
      report({ type: 'opened', key: cmd.key, error: { ...describeError(error), ...extra(error) } })
    }
  } else if (cmd.action === 'close') {
    const entry = served.get(cmd.key)
    served.delete(cmd.key)
    if (entry !== undefined) {
      await entry.server.close()
      await entry.store.close()
    }
    report({ type: 'closed', key: cmd.key })
  }
}

function extra(error) {
  return { hint: error?.hint, collection: error?.collection }
}
