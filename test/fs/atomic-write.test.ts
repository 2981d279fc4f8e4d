import { chmodSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync, lstatSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { updateFile, updateJsonFile, writeFileAtomic } from '../../src/fs.js'
import { tempDir } from '../helpers/backends.js'
import { faultyOps } from './fault-ops.js'

describe('writeFileAtomic', () => {
  test('writes a new file, then replaces it, leaving no temp file', async () => {
    const dir = tempDir()
    const file = join(dir, 'a.json')
    await writeFileAtomic(file, '{"v":1}')
    await writeFileAtomic(file, new Uint8Array(Buffer.from('{"v":2}')))
    expect(readFileSync(file, 'utf8')).toBe('{"v":2}')
    expect(readdirSync(dir)).toEqual(['a.json'])
  })

  test('keeps the mode of the file it replaces, and writes through a symlink', async () => {
    const dir = tempDir()
    const file = join(dir, 'secret.txt')
    writeFileSync(file, 'old')
    chmodSync(file, 0o640)
    symlinkSync(file, join(dir, 'link.txt'))
    await writeFileAtomic(join(dir, 'link.txt'), 'new')
    expect(statSync(file).mode & 0o777).toBe(0o640)
    expect(lstatSync(join(dir, 'link.txt')).isSymbolicLink()).toBe(true)
    expect(readFileSync(file, 'utf8')).toBe('new')
  })

  test('a missing directory is a STORAGE_FAILURE naming the file, and nothing is left', async () => {
    const dir = tempDir()
    await expect(writeFileAtomic(join(dir, 'nope', 'a.txt'), 'x')).rejects.toMatchObject({ code: 'STORAGE_FAILURE' })
    expect(readdirSync(dir)).toEqual([])
  })

  // Every faultable call along one write (open, write, fchmod, fsync, close, rename, and the
  // directory's open, fsync and close) fails in turn: the file is old or new, never anything else.
  test('a fault at any step leaves exactly the old or the new content and no temp file', async () => {
    const dir = tempDir()
    const file = join(dir, 'data.json')
    const probe = faultyOps(0)
    await writeFileAtomic(file, 'old', { ops: probe })
    const steps = probe.calls.length
    expect(steps).toBeGreaterThanOrEqual(8)
    for (let k = 1; k <= steps; k++) {
      writeFileSync(file, 'old')
      const ops = faultyOps(k)
      const outcome = await writeFileAtomic(file, 'new content', { ops }).then(
        () => 'ok',
        (error: { code?: string }) => error.code,
      )
      expect(outcome, `fault at call ${k} (${ops.calls[k - 1]})`).toBe('STORAGE_FAILURE')
      const after = readFileSync(file, 'utf8')
      expect(['old', 'new content'], `after a fault at ${ops.calls[k - 1]}`).toContain(after)
      // Only a fault after the rename (the directory fsync) may leave the new content.
      if (after === 'new content') expect(ops.calls.indexOf('rename')).toBeLessThan(k - 1)
      expect(readdirSync(dir)).toEqual(['data.json'])
    }
  })
})

describe('updateFile', () => {
  test('reads, transforms and replaces; undefined leaves the file alone', async () => {
    const dir = tempDir()
    const file = join(dir, 'n.txt')
    expect(await updateFile(file, (text) => String(Number(text ?? '0') + 1))).toBe('1')
    expect(await updateFile(file, (text) => String(Number(text ?? '0') + 1))).toBe('2')
    expect(await updateFile(file, () => undefined)).toBe('2')
    expect(readdirSync(dir)).toEqual(['n.txt'])
  })

  test('concurrent calls in one process queue up and lose nothing', async () => {
    const file = join(tempDir(), 'c.json')
    await Promise.all(Array.from({ length: 50 }, () => updateJsonFile<{ n: number }>(file, (v) => ({ n: (v?.n ?? 0) + 1 }))))
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ n: 50 })
  })

  test('a transform that throws leaves the file and releases the lock', async () => {
    const dir = tempDir()
    const file = join(dir, 'x.json')
    await updateJsonFile(file, () => ({ a: 1 }))
    await expect(
      updateJsonFile(file, () => {
        throw new Error('boom')
      }),
    ).rejects.toThrow('boom')
    writeFileSync(file, '{not json')
    await expect(updateJsonFile(file, () => ({ a: 2 }))).rejects.toMatchObject({ code: 'STORAGE_FAILURE' })
    expect(readFileSync(file, 'utf8')).toBe('{not json')
    expect(readdirSync(dir)).toEqual(['x.json'])
  })

  test('a fault at any step of the locked write leaves the old or new content, no temp and no lock', async () => {
    const dir = tempDir()
    const file = join(dir, 'data.json')
    writeFileSync(file, 'old')
    const probe = faultyOps(0)
    await updateFile(file, () => 'old', { ops: probe })
    for (let k = 1; k <= probe.calls.length; k++) {
      writeFileSync(file, 'old')
      const ops = faultyOps(k)
      await updateFile(file, () => 'new', { ops, timeoutMs: 0 }).catch(() => undefined)
      expect(['old', 'new']).toContain(readFileSync(file, 'utf8'))
      expect(readdirSync(dir), `fault at call ${k} (${ops.calls[k - 1]})`).toEqual(['data.json'])
    }
  })
})
