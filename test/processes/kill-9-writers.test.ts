import Database from 'better-sqlite3'
import { join } from 'node:path'
import { expect, onTestFinished, test } from 'vitest'
import { openStore, type StoreConfig } from '../../src/index.js'
import { tempDir } from '../helpers/backends.js'
import { LAST_RESORT_TIMEOUT_MS, forkWorker, noteProgress, sleep } from '../helpers/processes.js'

// Writers are SIGKILLed at random moments: mid-insert, mid-commit, mid-checkpoint, whatever they
// were doing. Every write a writer reported as done must survive, nothing half-done may appear,
// and the file must stay sound.
//
// How long the 100 kills take follows the machine's load: most of a cycle is starting a Node
// process and opening the store. So nothing here is timed. Each wait fails only when the test
// stalls (no ack, no kill, nothing from any writer for STALL_MS: a writer that cannot open the
// store or write, say), and the vitest timeout is a last resort far beyond that.

const KILLS = 100
const LANES = 2
const INCREMENT_EVERY = 3
const collections = { items: { writers: '*' }, counters: { writers: '*' } } as const

function integrityCheck(file: string): unknown {
  const db = new Database(file, { readonly: true })
  try {
    return db.pragma('integrity_check', { simple: true })
  } finally {
    db.close()
  }
}

test(
  `writers SIGKILLed ${KILLS} times at random moments lose no acknowledged write and leave a sound file`,
  { timeout: LAST_RESORT_TIMEOUT_MS },
  async () => {
    const dataDir = tempDir()
    const file = join(dataDir, 'store.db')
    const config = (role: string, durability: 'normal' | 'full' = 'normal'): StoreConfig<typeof collections> => ({
      dataDir,
      path: 'store.db',
      role,
      collections,
      durability,
    })
    const setup = await openStore(config('setup'))
    await setup.collection('counters').insert({ n: 0 }, { id: 'counter' })
    await setup.close()

    const ackedInserts = new Map<string, { writer: string; seq: number }>()
    let ackedIncrements = 0
    let kills = 0
    let spawned = 0

    // Each lane keeps one writer running: start it, let it write for a random 5-80 ms after its
    // first acknowledged write (a pause that only picks the moment of the kill, it decides nothing),
    // SIGKILL it, start the next. Two lanes make the kills land while
    // another process is writing too. Writers alternate durability 'normal' and 'full'.
    let failed = false
    async function lane(): Promise<void> {
      try {
        await runLane()
      } catch (error) {
        failed = true // stops the other lane too
        throw error
      }
    }
    async function runLane(): Promise<void> {
      while (kills < KILLS && !failed) {
        const n = spawned++
        const writer = `writer-${n}`
        const worker = forkWorker('crash-writer.mjs', {
          store: config(writer, n % 2 === 0 ? 'normal' : 'full'),
          collection: 'items',
          counterCollection: 'counters',
          counterId: 'counter',
          writer,
          incrementEvery: INCREMENT_EVERY,
        })
        worker.onMessage((m) => {
          if (m.type !== 'ack') return
          if (m.kind === 'insert') ackedInserts.set(m.id as string, { writer, seq: m.seq as number })
          else ackedIncrements++
        })
        await worker.waitFor('ack')
        await sleep(5 + Math.random() * 75)
        worker.kill('SIGKILL')
        const { code, signal } = await worker.exited
        if (signal !== 'SIGKILL')
          throw new Error(`${worker.label} ended by itself (code ${code}) before it was killed. ${worker.explain()}`)
        kills++
        noteProgress()
      }
    }
    const started = performance.now()
    await Promise.all(Array.from({ length: LANES }, lane))
    const seconds = ((performance.now() - started) / 1000).toFixed(1)

    const store = await openStore(config('checker'))
    onTestFinished(() => store.close())
    const items = await store.collection('items').find()
    const counter = (await store.collection('counters').get('counter'))!.data.n as number
    const unackedInserts = items.length - ackedInserts.size
    const unackedIncrements = counter - ackedIncrements
    console.log(
      `kill -9: ${kills} kills of ${spawned} writers in ${seconds} s; ${ackedInserts.size} inserts and ${ackedIncrements} increments acknowledged; ` +
        `stored ${items.length} records (${unackedInserts} committed without ack) and counter ${counter} (${unackedIncrements} without ack)`,
    )
    expect(kills).toBeGreaterThanOrEqual(KILLS)

    // Every acknowledged insert is there, with the data it was written with.
    const byId = new Map(items.map((r) => [r.id, r]))
    const lost = [...ackedInserts.keys()].filter((id) => !byId.has(id))
    expect(lost).toEqual([])
    for (const [id, { writer, seq }] of ackedInserts) expect(byId.get(id)!.data).toMatchObject({ writer, seq })
    // Each writer wrote one record at a time, so what it left is seq 0..k with no hole: nothing
    // committed after a write that was lost.
    const seqsByWriter = new Map<string, number[]>()
    for (const r of items)
      seqsByWriter.set(r.data.writer as string, [...(seqsByWriter.get(r.data.writer as string) ?? []), r.data.seq as number])
    for (const [writer, seqs] of seqsByWriter) {
      expect({ writer, seqs: seqs.sort((a, b) => a - b) }).toEqual({ writer, seqs: seqs.map((_, i) => i) })
    }
    // A kill can catch at most one write after its commit and before its ack (each writer has one
    // write in flight at a time), so at most one unacknowledged write per kill, insert or increment.
    expect(counter).toBeGreaterThanOrEqual(ackedIncrements)
    expect(counter).toBeLessThanOrEqual(ackedIncrements + kills)
    expect(unackedInserts).toBeGreaterThanOrEqual(0)
    expect(unackedInserts + unackedIncrements).toBeLessThanOrEqual(kills)

    // The file is sound with the WAL the killed writers left, and after it is checkpointed away.
    expect(integrityCheck(file)).toBe('ok')
    await store.close()
    expect(integrityCheck(file)).toBe('ok')
  },
)
