// Issue 16, item 2 (review): the rescue of a deleted -wal (a checkpoint through the file this
// process still has open) also ran when the -wal had been replaced by another file, where a
// checkpoint would go through a -shm describing the old file; and a read-only process, which
// cannot checkpoint, said its rescue failed because "other processes kept it busy" (or, when the
// -wal was already empty, that it had copied the commits itself).
import { copyFileSync, renameSync, unlinkSync } from 'node:fs'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { openStore, type TandemError } from '../../src/index.js'
import { tempDir } from '../helpers/backends.js'
import { sleep, waitUntil } from '../helpers/processes.js'

const collections = { items: { writers: '*' } } as const

test('a replaced -wal is not checkpointed: the refusal says its commits were not copied', async () => {
  const path = join(tempDir(), 'store.db')
  const store = await openStore({ path, role: 'writer', collections })
  try {
    const items = store.collection('items')
    for (let i = 0; i < 5; i++) await items.insert({ i })
    // Another file at the -wal's path (a copy renamed over it: a new inode).
    copyFileSync(`${path}-wal`, `${path}-wal.copy`)
    renameSync(`${path}-wal.copy`, `${path}-wal`)
    // A commit looks at the files at most every few ms: write until one notices.
    let error: TandemError | undefined
    for (let i = 5; error === undefined && i < 100; i++) {
      await sleep(10)
      error = (await items.insert({ i }).then(
        () => undefined,
        (e: unknown) => e,
      )) as TandemError | undefined
    }
    expect(error?.code).toBe('STORE_FILES_CHANGED')
    expect(error?.message).toContain('-wal was replaced')
    expect(error?.message).toContain('were not copied into the store file')
    expect(error?.message).not.toContain('were copied into the store file first')
  } finally {
    await store.close()
  }
})

test('a read-only process that sees the -wal deleted does not blame busy processes for not copying it', async () => {
  const path = join(tempDir(), 'store.db')
  const writer = await openStore({ path, role: 'writer', collections })
  const reader = await openStore({ path, role: 'reader', collections, readOnly: true })
  try {
    for (let i = 0; i < 5; i++) await writer.collection('items').insert({ i })
    expect(await reader.collection('items').count()).toBe(5)
    unlinkSync(`${path}-wal`)
    // The reader notices on its idle check (about every second), then refuses reads too.
    let refusal: TandemError | undefined
    await waitUntil(async () => {
      refusal = (await reader
        .collection('items')
        .count()
        .then(
          () => undefined,
          (e: unknown) => e,
        )) as TandemError | undefined
      return refusal !== undefined
    }, 'the read-only store to notice the deleted -wal')
    expect(refusal?.code).toBe('STORE_FILES_CHANGED')
    // It cannot checkpoint: it must neither claim it copied the commits nor blame other processes.
    expect(refusal?.message).not.toContain('other processes kept it busy')
    expect(refusal?.message).not.toContain('were copied into the store file first')
    expect(refusal?.message).toContain('read-only')
  } finally {
    await reader.close()
    await writer.close()
  }
})
