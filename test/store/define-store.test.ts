import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { defineStore, openStore } from '../../src/index.js'
import { tempDir } from '../helpers/backends.js'

describe('defineStore', () => {
  it('returns the definition frozen, and openStore({ ...definition, role }) keeps its collection types', async () => {
    const definition = defineStore({
      path: 'app.db',
      collections: { jobs: { writers: ['daemon'], indexes: ['status'], schema: z.object({ status: z.string() }) } },
    })
    expect(Object.isFrozen(definition)).toBe(true)
    const dir = tempDir()
    const store = await openStore({ ...definition, dataDir: dir, role: 'daemon' })
    const job = await store.collection('jobs').insert({ status: 'open' })
    const status: string = job.data.status
    expect(status).toBe('open')
    // @ts-expect-error -- the schema says status is a string
    await expect(store.collection('jobs').insert({ status: 1 })).rejects.toMatchObject({ code: 'SCHEMA_INVALID' })
    await store.close()
  })

  it('refuses a role (it belongs to each process) and a bad option at once, naming it', () => {
    // @ts-expect-error -- a definition has no role
    expect(() => defineStore({ role: 'daemon', collections: {} })).toThrow(/has no role/)
    expect(() => defineStore({ collections: { jobs: { writers: [] } } })).toThrow(/collections\.jobs\.writers/)
  })
})
