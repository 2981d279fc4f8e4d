import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, test } from 'vitest'
import { cleanUpLeftovers } from '../../src/fs.js'
import { tempDir } from '../helpers/backends.js'
import { expectCleanExit, forkWorker, LAST_RESORT_TIMEOUT_MS, noteProgress, type WorkerHandle } from '../helpers/processes.js'

interface Counter {
  n: number
  applied: string[]
}

function readCounter(file: string): Counter {
  return JSON.parse(readFileSync(file, 'utf8')) as Counter
}

/** Every increment exactly once: n matches the log, and the log holds each expected id once. */
function expectExactlyOnce(file: string, expected: string[]): void {
  const state = readCounter(file)
  expect(new Set(state.applied).size, 'an increment applied twice').toBe(state.applied.length)
  expect(state.n).toBe(state.applied.length)
  expect([...state.applied].sort()).toEqual([...expected].sort())
}

const ids = (tag: string, count: number) => Array.from({ length: count }, (_, i) => `${tag}-${i}`)

describe('updateFile across processes', () => {
  test(
    '4 processes × 500 increments of one counter file: exact count, and readers never see partial JSON',
    async () => {
      const dir = tempDir()
      const file = join(dir, 'counter.json')
      const readers = [forkWorker('file-reader.mjs', { file }), forkWorker('file-reader.mjs', { file })]
      const writers = [0, 1, 2, 3].map((w) => forkWorker('file-updater.mjs', { file, count: 500, tag: `w${w}`, waitForGo: true }))
      await Promise.all([...readers, ...writers].map((p) => p.waitFor('ready')))
      for (const w of writers) w.send({ type: 'go' })
      await Promise.all(writers.map((w) => w.waitFor('done')))
      await Promise.all(writers.map(expectCleanExit))
      for (const r of readers) r.send({ type: 'stop' })
      const seen = await Promise.all(readers.map((r) => r.waitFor('done')))
      for (const s of seen) {
        expect(s.bad, `a reader saw ${String(s.firstBad)}`).toBe(0)
        expect(s.reads as number).toBeGreaterThan(0)
      }
      expectExactlyOnce(
        file,
        [0, 1, 2, 3].flatMap((w) => ids(`w${w}`, 500)),
      )
      expect(readCounter(file).n).toBe(2000)
      expect(readdirSync(dir)).toEqual(['counter.json'])
    },
    LAST_RESORT_TIMEOUT_MS,
  )

  test(
    'lock holders SIGKILLed at random moments: the lock is recovered, no increment lost or applied twice',
    async () => {
      const dir = tempDir()
      const file = join(dir, 'counter.json')
      const count = 60
      const tags = ['k0', 'k1', 'k2']
      let kills = 0
      const start = (tag: string): Promise<void> =>
        new Promise((resolve, reject) => {
          // A restarted process redoes its increments from the start; the log inside the file skips those applied.
          const worker: WorkerHandle = forkWorker('file-updater.mjs', { file, count, tag, holdMs: 4 })
          worker.onMessage((m) => {
            // Kill some holders a random moment after they entered the lock: inside the
            // transform, during the temp write, the fsync, the rename or the release.
            if (m.type === 'holding' && kills < 24 && Math.random() < 0.15) {
              kills++
              setTimeout(() => worker.kill('SIGKILL'), Math.random() * 6)
            }
          })
          void worker.exited.then(({ code, signal }) => {
            noteProgress()
            if (signal === 'SIGKILL') resolve(start(tag))
            else if (code === 0) resolve()
            else reject(new Error(`${worker.label} failed: ${worker.explain()}`))
          })
        })
      await Promise.all(tags.map(start))
      expect(kills).toBeGreaterThan(0)
      expectExactlyOnce(
        file,
        tags.flatMap((t) => ids(t, count)),
      )
      // The killed writers' temp files (and any lock) are recognised as dead and cleaned up.
      await cleanUpLeftovers(dir)
      expect(readdirSync(dir)).toEqual(['counter.json'])
    },
    LAST_RESORT_TIMEOUT_MS,
  )

  test(
    'a Python (stdlib only) participant and Node processes share the lock: exact count',
    async () => {
      const dir = tempDir()
      const file = join(dir, 'counter.json')
      const script = fileURLToPath(new URL('../../clients/python/tandem_files.py', import.meta.url))
      const python = spawn('python3', [script, 'increment', file, '300', 'py'], { stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      let err = ''
      python.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString()
        noteProgress()
      })
      python.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()))
      const pythonDone = new Promise<number | null>((resolve) => python.on('close', resolve))
      const nodes = [
        forkWorker('file-updater.mjs', { file, count: 300, tag: 'n0' }),
        forkWorker('file-updater.mjs', { file, count: 300, tag: 'n1' }),
      ]
      await Promise.all(nodes.map(expectCleanExit))
      expect(await pythonDone, err).toBe(0)
      expect(out).toContain('"done"')
      expectExactlyOnce(file, [...ids('py', 300), ...ids('n0', 300), ...ids('n1', 300)])
      expect(readdirSync(dir)).toEqual(['counter.json'])
    },
    LAST_RESORT_TIMEOUT_MS,
  )
})
