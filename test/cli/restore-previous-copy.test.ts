import * as fs from 'node:fs'
import { join } from 'node:path'
import { expect, test, vi } from 'vitest'
import { restore } from '../../src/cli/commands/restore.js'
import { createContext } from '../../src/cli/output.js'
import { openStore, TandemError } from '../../src/index.js'
import { tempDir } from '../helpers/backends.js'
import { runCli, runCliJson } from '../helpers/cli.js'
import { forkWorker } from '../helpers/processes.js'

const COLLECTIONS = { tasks: { writers: ['server'] } }

// copyFileSync on a full disk: part of the file written, then ENOSPC.
const state = vi.hoisted(() => ({ diskFull: false }))
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>()
  const copyFileSync = (from: fs.PathLike, to: fs.PathLike, mode?: number) => {
    if (!state.diskFull) return real.copyFileSync(from, to, mode)
    real.writeFileSync(to, real.readFileSync(from).subarray(0, 4096))
    throw Object.assign(new Error(`ENOSPC: no space left on device, copyfile '${String(from)}' -> '${String(to)}'`), {
      code: 'ENOSPC',
      errno: -28,
      syscall: 'copyfile',
    })
  }
  return { ...real, default: { ...real, copyFileSync }, copyFileSync }
})

async function storeWith(path: string, titles: string[]): Promise<string> {
  const store = await openStore({ path, role: 'server', collections: COLLECTIONS })
  for (const title of titles) await store.collection('tasks').insert({ title })
  await store.close()
  return path
}

test('restore onto a damaged store on a full disk removes its partial copy and fails with STORAGE_FAILURE, not a raw ENOSPC', async () => {
  const dir = tempDir()
  const path = await storeWith(
    join(dir, 'app.db'),
    Array.from({ length: 400 }, (_, i) => `task ${i} ${'x'.repeat(200)}`),
  )
  const backup = join(dir, 'backup.db')
  expect(runCli(['backup', path, '--out', backup]).status).toBe(0)
  // Damaged, so no verified backup of it can be made: restore falls back to copying its files.
  const size = fs.statSync(path).size
  const fd = fs.openSync(path, 'r+')
  fs.writeSync(fd, Buffer.alloc(8192, 0xa5), 0, 8192, Math.floor(size / 2 / 4096) * 4096)
  fs.closeSync(fd)
  const damaged = fs.readFileSync(path)

  state.diskFull = true
  let failure: unknown
  try {
    const ctx = createContext({ json: true }, [backup, path])
    ctx.note = () => {}
    await restore.run(ctx)
  } catch (error) {
    failure = error
  } finally {
    state.diskFull = false
  }
  expect(failure).toBeInstanceOf(TandemError)
  expect(failure).toMatchObject({
    code: 'STORAGE_FAILURE',
    message: expect.stringContaining('ENOSPC'),
    hint: expect.stringContaining('Free disk space'),
  })
  expect(fs.readdirSync(dir).filter((name) => name.includes('before-restore'))).toEqual([])
  // Nothing was restored: the store is as it was.
  expect(fs.readFileSync(path).equals(damaged)).toBe(true)
})

test('restore without --force refuses a store that registered processes have open before making the copy of it', async () => {
  const dir = tempDir()
  const path = await storeWith(join(dir, 'app.db'), ['old'])
  const backup = join(dir, 'backup.db')
  expect(runCli(['backup', path, '--out', backup]).status).toBe(0)
  const holder = forkWorker('store-holder.mjs', { config: { path, role: 'server', collections: COLLECTIONS } })
  const { pid } = (await holder.waitFor('ready')) as unknown as { pid: number }
  try {
    const before = fs.readdirSync(dir).sort()
    const refused = runCliJson<{ error: { code: string; message: string; hint: string } }>(['restore', backup, path])
    expect(refused.status).toBe(3)
    // The registry's answer, given before any copy was made (the library's probe would say "Other connections").
    expect(refused.result.error).toMatchObject({
      code: 'STORE_IN_USE',
      message: expect.stringContaining(`pid ${pid} on `),
      hint: expect.stringContaining('--force'),
    })
    expect(fs.readdirSync(dir).sort()).toEqual(before)
  } finally {
    holder.send({ type: 'cmd', action: 'stop' })
    await holder.waitFor('closed')
  }
})
