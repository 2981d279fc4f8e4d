import { chmodSync, mkdirSync, statSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { openStore, TandemError } from '../../src/index.js'
import { tempDir } from '../helpers/backends.js'

const collections = { a: { writers: '*' } } as const

async function openAndClose(config: { path?: string; dataDir?: string }) {
  const store = await openStore({ role: 'x', collections, ...config })
  await store.close()
}

describe('store paths', () => {
  test('a relative path lands inside dataDir; the directory is created 0700 and the file 0600', async () => {
    const root = tempDir()
    const dataDir = join(root, 'data', 'nested')
    await openAndClose({ dataDir, path: 'app.db' })
    expect(statSync(dataDir).mode & 0o777).toBe(0o700)
    expect(statSync(join(dataDir, 'app.db')).mode & 0o777).toBe(0o600)
  })

  test('the -wal and -shm files are private too, even in a directory others may read', async () => {
    const dataDir = join(tempDir(), 'shared')
    mkdirSync(dataDir, { mode: 0o755 })
    const store = await openStore({ role: 'x', collections, dataDir })
    await store.collection('a').insert({ k: 1 })
    for (const suffix of ['', '-wal', '-shm']) expect(statSync(join(dataDir, `tandem.db${suffix}`)).mode & 0o777, suffix).toBe(0o600)
    await store.close()
  })

  test('dataDir alone puts the store in tandem.db', async () => {
    const dataDir = tempDir()
    await openAndClose({ dataDir })
    expect(statSync(join(dataDir, 'tandem.db')).isFile()).toBe(true)
  })

  test.each([
    ['a parent-directory escape', '../escape.db'],
    ['an absolute path elsewhere', '/tmp/tandem-elsewhere.db'],
  ])('%s is refused with UNSAFE_PATH', async (_name, path) => {
    const dataDir = join(tempDir(), 'data')
    const error = await openAndClose({ dataDir, path }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(TandemError)
    expect(error).toMatchObject({ code: 'UNSAFE_PATH' })
    expect((error as Error).message).toMatch(/outside the data directory/)
  })

  test('a symlink inside dataDir pointing out of it is refused', async () => {
    const root = tempDir()
    const dataDir = join(root, 'data')
    const outside = join(root, 'outside')
    mkdirSync(dataDir, { mode: 0o700 })
    mkdirSync(outside, { mode: 0o700 })
    symlinkSync(join(outside, 'real.db'), join(dataDir, 'app.db'))
    await expect(openAndClose({ dataDir, path: 'app.db' })).rejects.toMatchObject({
      code: 'UNSAFE_PATH',
      message: expect.stringMatching(/symbolic link/),
    })
    symlinkSync(outside, join(dataDir, 'sub'))
    await expect(openAndClose({ dataDir, path: 'sub/x.db' })).rejects.toMatchObject({ code: 'UNSAFE_PATH' })
  })

  test('a world-writable directory is refused', async () => {
    const root = tempDir()
    const open = join(root, 'open')
    mkdirSync(open)
    chmodSync(open, 0o777)
    await expect(openAndClose({ path: join(open, 'app.db') })).rejects.toMatchObject({
      code: 'UNSAFE_PATH',
      message: expect.stringMatching(/writable by every user/),
    })
    await expect(openAndClose({ dataDir: open })).rejects.toMatchObject({ code: 'UNSAFE_PATH' })
  })

  test('a file that is not a database is reported as damaged, untouched', async () => {
    const dir = tempDir()
    const file = join(dir, 'junk.db')
    const { writeFileSync, readFileSync } = await import('node:fs')
    writeFileSync(file, 'this is not a sqlite database, just text '.repeat(200))
    const before = readFileSync(file)
    await expect(openAndClose({ path: file })).rejects.toMatchObject({
      code: 'STORAGE_FAILURE',
      message: expect.stringMatching(/damaged or not a Tandem store/),
    })
    expect(readFileSync(file).equals(before)).toBe(true)
  })
})
