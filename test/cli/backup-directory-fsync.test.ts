import * as fs from 'node:fs'
import { join } from 'node:path'
import { expect, test, vi } from 'vitest'
import { backup } from '../../src/cli/commands/backup.js'
import { createContext } from '../../src/cli/output.js'
import { parseTempName } from '../../src/fs/durable-file.js'
import { openStore } from '../../src/index.js'
import { tempDir } from '../helpers/backends.js'

// A file system that refuses fsync on a directory (EINVAL), as some network and FUSE file systems
// do: the rename is atomic there all the same. `tandem backup` must report the backup it has put
// in place as done, not as a failure (its own directory fsync used to throw after the link).
const state = vi.hoisted(() => ({ refuseDirectoryFsync: false, links: [] as [from: string, to: string][] }))
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>()
  const fsyncSync = (fd: number) => {
    if (state.refuseDirectoryFsync && real.fstatSync(fd).isDirectory())
      throw Object.assign(new Error('EINVAL: invalid argument, fsync'), { code: 'EINVAL', errno: -22, syscall: 'fsync' })
    return real.fsyncSync(fd)
  }
  const linkSync = (from: fs.PathLike, to: fs.PathLike) => {
    state.links.push([String(from), String(to)])
    return real.linkSync(from, to)
  }
  return { ...real, default: { ...real, fsyncSync, linkSync }, fsyncSync, linkSync }
})

test("tandem backup succeeds where the file system refuses fsync on a directory, and writes its temp file under createTempBeside's name", async () => {
  const dir = tempDir()
  const path = join(dir, 'app.db')
  const store = await openStore({ path, role: 'server', collections: { tasks: { writers: ['server'] } } })
  await store.collection('tasks').insert({ title: 'kept' })
  await store.close()
  const out = join(dir, 'backups', 'app-backup.db')
  fs.mkdirSync(join(dir, 'backups'))

  state.refuseDirectoryFsync = true
  let code: number
  try {
    const ctx = createContext({ out, json: true }, [path])
    ctx.result = () => {}
    code = await backup.run(ctx)
  } finally {
    state.refuseDirectoryFsync = false
  }
  expect(code).toBe(0)
  expect(fs.statSync(out).size).toBeGreaterThan(0)
  // No temp file left beside it, and the one it used was createTempBeside's (pid and host in the name).
  expect(fs.readdirSync(join(dir, 'backups'))).toEqual(['app-backup.db'])
  const published = state.links.filter(([, to]) => to === out).map(([from]) => from)
  expect(published).toHaveLength(1)
  expect(parseTempName(published[0]!.split('/').at(-1)!)).toMatchObject({
    finalName: 'app-backup.db',
    pid: process.pid,
    host: expect.any(String),
  })
  const copy = await openStore({ path: out, role: 'server', collections: { tasks: { writers: ['server'] } } })
  expect((await copy.collection('tasks').find()).map((r) => r.data)).toEqual([{ title: 'kept' }])
  await copy.close()
})
