import Database from 'better-sqlite3'
import { join } from 'node:path'
import { expect, onTestFinished, test } from 'vitest'
import { openStore, type Change, type StoreConfig } from '../../src/index.js'
import { tempDir } from '../helpers/backends.js'
import { runCliJson } from '../helpers/cli.js'
import { LAST_RESORT_TIMEOUT_MS, forkWorker, noteProgress, sleep, waitUntil } from '../helpers/processes.js'
import { repoFile, runPython } from './python-helpers.js'

// docs/protocol.md, proven: a Python sqlite3 writer following the protocol
// (clients/python/tandem_sqlite.py) and Node Tandem writers increment one hot record at the same
// time while every writer is SIGKILLed at random moments, again and again. No update is lost
// (the counter is in step with the version, and no version was acknowledged twice), and a Node
// durable consumer sees every version of the record once, in order, Python's writes included.
//
// Nothing is timed: each wait fails only when nothing progressed for STALL_MS.

const KILLS = 60
// history: 'full', so that the log keeps every version and the feed can be checked for each write
// (by default the log coalesces a record's entries; the last test checks a direct writer does too).
const collections = { counters: { writers: '*', history: 'full' }, notes: { writers: '*' } } as const

/** Which writer acknowledged which version. */
interface Ack {
  writer: string
  version: number
}

test(
  `a Python writer following docs/protocol.md and Node writers, SIGKILLed ${KILLS} times, lose no increment and every write reaches the feed`,
  { timeout: LAST_RESORT_TIMEOUT_MS },
  async () => {
    const dataDir = tempDir()
    const file = join(dataDir, 'store.db')
    const config = (role: string): StoreConfig<typeof collections> => ({ dataDir, path: 'store.db', role, collections })
    const store = await openStore(config('auditor'))
    onTestFinished(() => store.close())
    await store.collection('counters').insert({ n: 0 }, { id: 'hot' })

    // The feed: a durable consumer in this process, acknowledging each change as it comes.
    const seen: Change[] = []
    const auditor = store.consumer('auditor', { collections: ['counters'], start: 'beginning' })
    const feed = await auditor.changes()
    const following = (async () => {
      for await (const change of feed) {
        seen.push(change)
        await auditor.ack(change.seq)
      }
    })()

    const acks: Ack[] = []
    let kills = 0
    const spawned = { node: 0, python: 0 }
    let failed = false

    // One lane keeps one writer of its kind running: start it, let it write for a random 5-80 ms
    // after its first acknowledged write (a pause that only picks the moment of the kill), SIGKILL
    // it, start the next, until the lanes together reach KILLS.
    async function nodeLane(): Promise<void> {
      while (kills < KILLS && !failed) {
        const writer = `node-${spawned.node++}`
        const worker = forkWorker('hot-incrementer.mjs', { store: config(writer), collection: 'counters', id: 'hot' })
        worker.onMessage((m) => m.type === 'ack' && acks.push({ writer, version: m.version as number }))
        await worker.waitFor('ack')
        await sleep(5 + Math.random() * 75)
        worker.kill('SIGKILL')
        const { signal } = await worker.exited
        if (signal !== 'SIGKILL') throw new Error(`${worker.label} ended by itself before it was killed. ${worker.explain()}`)
        kills++
        noteProgress()
      }
    }
    async function pythonLane(): Promise<void> {
      const script = repoFile('test/python/protocol_incrementer.py')
      while (kills < KILLS && !failed) {
        const writer = `python-${spawned.python++}`
        const python = runPython(script, [file, 'counters', 'hot', '1000000', writer, 'full'])
        let counted = 0
        const collect = () => {
          for (; counted < python.messages.length; counted++) {
            const m = python.messages[counted]!
            if (m.type === 'ack') acks.push({ writer, version: m.version as number })
          }
        }
        await python.waitFor('ack')
        await sleep(5 + Math.random() * 75)
        python.kill('SIGKILL')
        const { signal } = await python.exited
        collect()
        if (signal !== 'SIGKILL') throw new Error(`python writer ${writer} ended by itself before it was killed:\n${python.stderr()}`)
        kills++
        noteProgress()
      }
    }
    const guard = (lane: () => Promise<void>) => () =>
      lane().catch((error: unknown) => {
        failed = true
        throw error
      })
    const started = performance.now()
    await Promise.all([guard(nodeLane)(), guard(nodeLane)(), guard(pythonLane)()])
    const seconds = ((performance.now() - started) / 1000).toFixed(1)

    const hot = (await store.collection('counters').get('hot'))!
    // Every committed version reaches the consumer: versions 2..final after the insert's 1.
    await waitUntil(() => seen.at(-1)?.version === hot.version, `the consumer to reach version ${hot.version}`, {
      progress: () => seen.length,
    })
    feed.close()
    await following

    const versions = acks.map((a) => a.version)
    const duplicates = versions.filter((v, i) => versions.indexOf(v) !== i)
    const fromPython = acks.filter((a) => a.writer.startsWith('python'))
    const feedVersions = seen.map((c) => c.version)
    const feedRole = new Map(seen.map((c) => [c.version, c.role]))
    const misattributed = acks.filter((a) => feedRole.get(a.version) !== a.writer)
    const committedWithoutAck = hot.version - 1 - acks.length
    console.log(
      `protocol race: ${spawned.node} Node and ${spawned.python} Python writers, ${kills} kills in ${seconds} s; ` +
        `${acks.length} increments acknowledged (${fromPython.length} by Python), ${committedWithoutAck} committed without ack; ` +
        `final n = ${hot.data.n as number} at version ${hot.version}; feed: ${seen.length} changes; ` +
        `anomalies: ${duplicates.length} duplicate versions, ${misattributed.length} acks not in the feed as their writer's`,
    )

    expect(kills).toBeGreaterThanOrEqual(KILLS)
    expect(fromPython.length).toBeGreaterThan(0)
    // No lost update: each committed write added 1 to n and 1 to the version, none acknowledged twice.
    expect(duplicates).toEqual([])
    expect(hot.data.n).toBe(hot.version - 1)
    expect(hot.data.n as number).toBeGreaterThanOrEqual(acks.length)
    // A kill can catch at most one write after its commit and before its report.
    expect(committedWithoutAck).toBeLessThanOrEqual(kills)
    // Every write in the feed, once, in order: the insert, then each version.
    expect(feedVersions).toEqual(Array.from({ length: hot.version }, (_, k) => k + 1))
    expect(new Set(seen.map((c) => c.seq)).size).toBe(seen.length)
    expect(misattributed).toEqual([])

    // Nothing for doctor to report: every write of either kind left its change-log entry.
    const doctor = runCliJson<{ checks: { title: string; status: string; summary: string }[] }>(['doctor', file]).result
    expect(doctor.checks.find((c) => c.title === 'writes outside Tandem')).toMatchObject({ status: 'ok' })

    const db = new Database(file, { readonly: true })
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok')
    } finally {
      db.close()
    }
  },
)

test('a direct writer following the protocol coalesces the log as Tandem does: one entry per record, named by its seq', async () => {
  const dataDir = tempDir()
  const file = join(dataDir, 'store.db')
  const store = await openStore({ dataDir, path: 'store.db', role: 'app', collections })
  onTestFinished(() => store.close())
  await store.collection('notes').insert({ n: 0 }, { id: 'a' })
  const python = runPython(repoFile('test/python/protocol_incrementer.py'), [file, 'notes', 'a', '40', 'python'])
  await python.waitFor('done')
  await store.collection('notes').patch('a', { n: 100 })
  const db = new Database(file, { readonly: true })
  try {
    const record = db.prepare('SELECT version, seq FROM c_notes WHERE id = ?').get('a') as { version: number; seq: number }
    expect(record.version).toBe(42)
    expect(db.prepare("SELECT seq, op, version FROM _tandem_changes WHERE id = 'a'").all()).toEqual([
      { seq: record.seq, op: 'update', version: 42 },
    ])
  } finally {
    db.close()
  }
})
