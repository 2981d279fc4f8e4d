import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { changeLine, collectionText, parseCollection } from '../../src/backends/files/files-format.js'
import { contentHash, filesLayout, statIdentity, type StoreState } from '../../src/backends/files/files-layout.js'
import { hostTag } from '../../src/fs/durable-file.js'
import { describe, expect, test } from 'vitest'
import { openStore, type Change } from '../../src/index.js'
import { tempDir } from '../helpers/backends.js'
import { expectCleanExit, forkWorker, LAST_RESORT_TIMEOUT_MS, noteProgress, waitUntil } from '../helpers/processes.js'

const COLLECTIONS = { todos: { writers: '*' }, notes: { writers: '*' } } as const

async function open(dir: string, role = 'app') {
  const store = await openStore({ files: { dir }, role, collections: COLLECTIONS })
  return store
}

function lines(dir: string, collection: string): string[] {
  return readFileSync(join(dir, 'collections', `${collection}.jsonl`), 'utf8')
    .split('\n')
    .filter(Boolean)
}

describe('files store', () => {
  test('one JSON line per record, sorted by id, keys in a fixed order; an unchanged record keeps its line byte for byte', async () => {
    const dir = join(tempDir(), 'store')
    const store = await open(dir)
    const todos = store.collection('todos')
    await todos.insert({ title: 'b', done: false, tags: ['x'] }, { id: 'b' })
    await todos.insert({ z: 1, a: { y: 2, x: 1 } }, { id: 'a' })
    const before = lines(dir, 'todos')
    expect(before).toHaveLength(2)
    expect(before[0]).toMatch(
      /^\{"id":"a","version":1,"role":"app","createdAt":\d+,"updatedAt":\d+,"createdSeq":\d+,"data":\{"a":\{"x":1,"y":2\},"z":1\}\}$/,
    )
    await todos.update('b', (d) => ({ ...d, done: true }))
    const after = lines(dir, 'todos')
    expect(after[0]).toBe(before[0])
    expect(after[1]).toContain('"done":true')
    await store.close()
  })

  test('a hand edit while a process runs is seen by reads, announced on the change feed, and versions move past it', async () => {
    const dir = join(tempDir(), 'store')
    const store = await open(dir)
    const todos = store.collection('todos')
    await todos.insert({ title: 'write docs' }, { id: 't1' })
    await todos.insert({ title: 'remove me' }, { id: 't2' })
    const seen: Change[] = []
    const feed = store.changes({ since: 'now' })
    const reading = (async () => {
      for await (const change of feed) {
        seen.push(change)
        noteProgress()
      }
    })()
    // A person edits t1, deletes t2 and adds t3 (only id and data) in an editor.
    const [t1] = lines(dir, 'todos')
    writeFileSync(
      join(dir, 'collections', 'todos.jsonl'),
      `${t1!.replace('write docs', 'write the docs')}\n{"id":"t3","data":{"title":"added by hand"}}\n`,
    )
    await waitUntil(() => seen.length >= 3, 'the hand edit on the feed')
    expect(seen.map((c) => [c.op, c.id, c.role]).sort()).toEqual([
      ['delete', 't2', 'hand-edit'],
      ['insert', 't3', 'hand-edit'],
      ['update', 't1', 'hand-edit'],
    ])
    const edited = await todos.get('t1')
    expect(edited).toMatchObject({ version: 2, data: { title: 'write the docs' } })
    await expect(todos.replace('t1', { title: 'stale' }, { ifVersion: 1 })).rejects.toMatchObject({ code: 'VERSION_CONFLICT' })
    expect((await todos.get('t3'))?.data).toEqual({ title: 'added by hand' })
    await store.close()
    await reading.catch(() => undefined)
  })

  test('an invalid hand edit is refused with an error naming the line; the file stays as the person left it', async () => {
    const dir = join(tempDir(), 'store')
    const store = await open(dir)
    const todos = store.collection('todos')
    await todos.insert({ title: 'one' }, { id: 't1' })
    const file = join(dir, 'collections', 'todos.jsonl')
    const broken = `${readFileSync(file, 'utf8')}{"id":"t2","data":{"title": oops}}\n`
    writeFileSync(file, broken)
    const error = await todos.insert({ title: 'two' }).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'INVALID_DATA' })
    expect(String((error as Error).message)).toContain(`${file} line 2`)
    await expect(todos.get('t1')).rejects.toMatchObject({ code: 'INVALID_DATA' })
    expect(readFileSync(file, 'utf8')).toBe(broken)
    // Other collections carry on; once the line is fixed, so does this one (and the fix is announced).
    await store.collection('notes').insert({ text: 'fine' })
    writeFileSync(file, broken.replace('oops', '"fixed"'))
    await todos.insert({ title: 'two' }, { id: 't3' })
    expect((await todos.find()).map((r) => r.id)).toEqual(['t1', 't2', 't3'])
    await store.close()
  })

  test(
    'processes incrementing one record through a files store lose no update; SIGKILLed writers leave a consistent store',
    async () => {
      const dir = join(tempDir(), 'store')
      const store = await open(dir)
      const counters = store.collection('todos')
      await counters.insert({ n: 0 }, { id: 'c' })
      const config = { files: { dir }, role: 'worker', collections: COLLECTIONS }
      const workers = [0, 1, 2].map(() => forkWorker('incrementer.mjs', { store: config, collection: 'todos', id: 'c', count: 60 }))
      await Promise.all(workers.map((w) => w.waitFor('ready')))
      for (const w of workers) w.send({ type: 'go' })
      await Promise.all(workers.map(expectCleanExit))
      const done = workers.map((w) => w.messages.find((m) => m.type === 'done')!)
      expect(done.map((d) => d.errorCount)).toEqual([0, 0, 0])
      expect((await counters.get('c'))?.data).toEqual({ n: 180 })

      // Now kill writers mid-flight, again and again: every commit is whole or absent.
      for (let round = 0; round < 6; round++) {
        const victim = forkWorker('incrementer.mjs', { store: config, collection: 'todos', id: 'c', untilStop: true, progressEvery: 5 })
        await victim.waitFor('ready')
        victim.send({ type: 'go' })
        await victim.waitFor('progress')
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 20))
        victim.kill('SIGKILL')
        await victim.exited
      }
      await counters.update('c', (d) => ({ n: (d.n as number) + 1 }))
      const record = (await counters.get('c'))!
      // One version per committed increment, and the log's one entry (coalesced) is the latest: the record and the log agree.
      const changes: [string, number][] = []
      for await (const change of store.changes({ since: 'beginning', collections: ['todos'], ids: ['c'] })) {
        changes.push([change.op, change.version])
        if (change.version === record.version) break
      }
      expect(record.version).toBe((record.data.n as number) + 1)
      expect(changes).toEqual([['update', record.version]])
      await store.close()
    },
    LAST_RESORT_TIMEOUT_MS,
  )

  test("a hand edit not yet reconciled is no base for 'diff' history: past versions come back superseded, never invented", async () => {
    const dir = join(tempDir(), 'store')
    const store = await openStore({ files: { dir }, role: 'app', collections: { docs: { writers: '*', history: 'diff' } } })
    const docs = store.collection('docs')
    await docs.insert({ title: 'one', note: 'a' }, { id: 'd1' })
    await docs.patch('d1', { title: 'two' })
    const file = join(dir, 'collections', 'docs.jsonl')
    // An editor changes a field the patch did not touch, and not the version: the reverse delta
    // (title back to 'one') still applies, and would make a version 1 that never existed.
    writeFileSync(file, readFileSync(file, 'utf8').replace('"note":"a"', '"note":"b"'))
    const first = (await docs.history('d1')).find((c) => c.version === 1)
    expect(first?.data).not.toEqual({ title: 'one', note: 'b' })
    expect(first?.data === undefined || first.superseded === true).toBe(true)
    await store.close()
  })
})

describe('files store crash recovery', () => {
  test('a writer killed after its journal landed: the next open finishes its commit instead of cleaning up its staged files', async () => {
    const dir = join(tempDir(), 'store')
    const first = await open(dir)
    await first.collection('todos').insert({ v: 1 }, { id: 'x' })
    await first.close()
    // What a writer (pid `dead`) leaves when SIGKILLed right after putting its journal in place:
    // its staged collection, shadow and state files, and the journal naming them.
    const dead = 2 ** 22 + 4321
    const layout = filesLayout(dir)
    const state = JSON.parse(readFileSync(layout.state, 'utf8')) as StoreState
    const rows = parseCollection(readFileSync(join(dir, 'collections', 'todos.jsonl'), 'utf8'), 'todos', () => ({
      version: 1,
      role: '',
      createdAt: 0,
      updatedAt: 0,
      createdSeq: 0,
    }))
    const x = rows.get('x')!
    rows.set('x', { ...x, version: 2, updatedAt: x.updatedAt + 1, data: { v: 2 } })
    const text = collectionText(rows.values())
    const staged = (target: string, content: string) => {
      const temp = join(dirname(target), `.${basename(target)}.${dead}-0badcafe.${hostTag()}.tmp`)
      writeFileSync(temp, content)
      return temp
    }
    const collection = join(dir, 'collections', 'todos.jsonl')
    const collectionTemp = staged(collection, text)
    const change = {
      seq: state.seq + 1,
      collection: 'todos',
      id: 'x',
      op: 'update' as const,
      version: 2,
      role: 'app',
      at: x.updatedAt + 1,
      data: { v: 2 },
    }
    const appended = `${changeLine(change)}\n`
    const next: StoreState = {
      ...state,
      seq: state.seq + 1,
      changesBytes: state.changesBytes + Buffer.byteLength(appended),
      files: { ...state.files, todos: { identity: statIdentity(statSync(collectionTemp)), hash: contentHash(text) } },
    }
    const journal = {
      renames: [
        [collectionTemp, collection],
        [staged(join(layout.shadow, 'todos.jsonl'), text), join(layout.shadow, 'todos.jsonl')],
        [staged(layout.state, `${JSON.stringify(next)}\n`), layout.state],
      ],
      removals: [],
      append: { offset: state.changesBytes, text: appended },
    }
    writeFileSync(layout.journal, JSON.stringify(journal))

    const second = await open(dir)
    expect(await second.collection('todos').get('x')).toMatchObject({ version: 2, data: { v: 2 } })
    const changes: Change[] = []
    for await (const c of second.changes({ since: 'beginning', collections: ['todos'] })) {
      changes.push(c)
      if (c.version === 2) break
    }
    expect(changes.map((c) => [c.op, c.version, c.role])).toEqual([
      ['insert', 1, 'app'],
      ['update', 2, 'app'],
    ])
    // A write after it is no hand edit: the files agree with the state.
    await second.collection('todos').patch('x', { v: 3 })
    expect(await second.collection('todos').get('x')).toMatchObject({ version: 3 })
    expect(readdirSync(join(dir, 'collections')).filter((name) => name.startsWith('.'))).toEqual([]) // no temp file left
    await second.close()
  })
})
