import { join } from 'node:path'
import { expect, test } from 'vitest'
import { openStore } from '../../src/index.js'
import { tempDir } from '../helpers/backends.js'
import { startCli } from '../helpers/cli.js'
import { forkWorker } from '../helpers/processes.js'

const COLLECTIONS = { tasks: { writers: ['server'] }, jobs: { writers: ['server'] } }

async function newStore(): Promise<string> {
  const path = join(tempDir(), 'app.db')
  const store = await openStore({ path, role: 'server', collections: COLLECTIONS })
  await store.collection('tasks').insert({ title: 'before the watch' })
  await store.close()
  return path
}

test('watch tails changes another process commits, as NDJSON, and exits 0 on SIGINT', async () => {
  const path = await newStore()
  const watcher = startCli(['watch', path, '--collection', 'tasks', '--json'])
  await watcher.waitFor('stderr', /Watching .* for changes after seq 1;/)

  const writer = forkWorker('store-holder.mjs', { config: { path, role: 'server', collections: COLLECTIONS } })
  await writer.waitFor('ready')
  writer.send({ type: 'cmd', action: 'insert', collection: 'jobs', records: [{ kind: 'not watched' }] })
  writer.send({ type: 'cmd', action: 'insert', collection: 'tasks', records: [{ title: 'a' }, { title: 'b' }, { title: 'c' }] })
  const { ids } = (await writer.waitFor((m) => m.type === 'inserted' && (m.ids as string[]).length === 3)) as unknown as { ids: string[] }
  await watcher.waitFor('stdout', /"title":"c"/)

  const lines = watcher
    .stdout()
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { seq: number; collection: string; id: string; op: string; role: string; data: { title: string } })
  expect(lines.map((c) => c.data.title)).toEqual(['a', 'b', 'c'])
  expect(lines.every((c) => c.collection === 'tasks' && c.op === 'insert' && c.role === 'server')).toBe(true)
  expect(lines.map((c) => c.seq)).toEqual([3, 4, 5])
  expect(lines.map((c) => c.id)).toEqual(ids)

  watcher.child.kill('SIGINT')
  expect(await watcher.exited).toEqual({ code: 0, signal: null })
  expect(watcher.stderr()).toMatch(/Stopped after 3 changes\./)
  writer.send({ type: 'cmd', action: 'stop' })
  await writer.waitFor('closed')
})

test('watch --since beginning replays the log in human lines, and SIGTERM ends it cleanly', async () => {
  const path = await newStore()
  const watcher = startCli(['watch', path, '--since', 'beginning'])
  await watcher.waitFor('stdout', /before the watch/)
  expect(watcher.stdout()).toMatch(/^\s+1 {2}\S+Z {2}insert {2}tasks\/\S+ {2}v1 {2}by server {2}\{"title":"before the watch"\}\n$/)
  watcher.child.kill('SIGTERM')
  expect((await watcher.exited).code).toBe(0)
})
