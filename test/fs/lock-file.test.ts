import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { acquireFileLock, cleanUpLeftovers, findLeftovers, withFileLock } from '../../src/fs.js'
import { currentProcess } from '../../src/fs/process-identity.js'
import { tempDir } from '../helpers/backends.js'
import { forkWorker, LAST_RESORT_TIMEOUT_MS } from '../helpers/processes.js'

/** The pid of a process that has certainly exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' })
  return Number(child.stdout)
}

function lockOf(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(`${file}.lock`, 'utf8')) as Record<string, unknown>
}

describe('withFileLock', () => {
  test('LOCK_TIMEOUT names the live holder; the lock is free once it lets go', async () => {
    const file = join(tempDir(), 'f.json')
    const holder = forkWorker('lock-racer.mjs', { file })
    await holder.waitFor('ready')
    holder.send({ type: 'race', trial: 0, at: 0 })
    await holder.waitFor('won')
    const error = await withFileLock(file, () => 'never', { timeoutMs: 50 }).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'LOCK_TIMEOUT', holder: { pid: holder.pid, host: hostname() } })
    expect(String((error as Error).message)).toContain(`pid ${holder.pid} on host ${hostname()}`)
    holder.send({ type: 'release' })
    await holder.waitFor('released')
    expect(await withFileLock(file, () => 'mine', { timeoutMs: 5000 })).toBe('mine')
  })

  test("a SIGKILLed holder's lock is taken over at once", async () => {
    const file = join(tempDir(), 'f.json')
    const holder = forkWorker('lock-racer.mjs', { file })
    await holder.waitFor('ready')
    holder.send({ type: 'race', trial: 0, at: 0 })
    await holder.waitFor('won')
    holder.kill('SIGKILL')
    await holder.exited
    expect(lockOf(file).pid).toBe(holder.pid)
    const lock = await acquireFileLock(file, { timeoutMs: 0 })
    expect(lockOf(file)).toMatchObject({ pid: process.pid, token: lock.token })
    await lock.release()
    expect(readdirSync(join(file, '..'))).toEqual([])
  })

  test('a reused pid (same pid, another start time) counts as dead', async () => {
    const file = join(tempDir(), 'f.json')
    const self = currentProcess()
    if (self.procStart === undefined) return // off Linux: no start times to compare
    writeFileSync(`${file}.lock`, JSON.stringify({ ...self, procStart: self.procStart - 1, token: 'ab'.repeat(12), acquiredAt: 1 }))
    const lock = await acquireFileLock(file, { timeoutMs: 0 })
    await lock.release()
  })

  test("another host's lock is respected until its lease expires; an unreadable one likewise", async () => {
    const file = join(tempDir(), 'f.json')
    writeFileSync(`${file}.lock`, JSON.stringify({ pid: 1, host: 'elsewhere', token: 'cd'.repeat(12), acquiredAt: Date.now() }))
    await expect(acquireFileLock(file, { timeoutMs: 0, staleMs: 60_000 })).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' })
    const old = Date.now() / 1000 - 120
    utimesSync(`${file}.lock`, old, old)
    await (await acquireFileLock(file, { timeoutMs: 0, staleMs: 60_000 })).release()
    writeFileSync(`${file}.lock`, 'garbage')
    await expect(acquireFileLock(file, { timeoutMs: 0, staleMs: 60_000 })).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' })
    utimesSync(`${file}.lock`, old, old)
    await (await acquireFileLock(file, { timeoutMs: 0, staleMs: 60_000 })).release()
  })

  test('bad options are RangeErrors naming the option', async () => {
    await expect(withFileLock('x', () => 1, { timeoutMs: -1 })).rejects.toThrow('timeoutMs must be an integer of at least 0 (got -1)')
    await expect(withFileLock('x', () => 1, { staleMs: 0 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
  })

  test(
    'two newcomers racing to take over one stale lock: exactly one wins, in each of 200 trials',
    async () => {
      const dir = tempDir()
      const file = join(dir, 'f.json')
      const racers = [forkWorker('lock-racer.mjs', { file }), forkWorker('lock-racer.mjs', { file })]
      await Promise.all(racers.map((r) => r.waitFor('ready')))
      const dead = deadPid()
      const self = currentProcess()
      for (let trial = 1; trial <= 200; trial++) {
        // A dead holder's lock; every third trial, also the claim of a taker that died mid-takeover.
        const token = `${trial.toString(16).padStart(4, '0')}${'e'.repeat(20)}`
        writeFileSync(`${file}.lock`, JSON.stringify({ ...self, pid: dead, procStart: undefined, token, acquiredAt: 1 }))
        if (trial % 3 === 0)
          writeFileSync(`${file}.lock.takeover.${token}.1`, JSON.stringify({ ...self, pid: dead, token: 'f'.repeat(24) }))
        const at = Date.now() + 30
        for (const r of racers) r.send({ type: 'race', trial, at })
        const outcomes = await Promise.all(
          racers.map((r) => r.waitFor((m) => m.trial === trial && (m.type === 'won' || m.type === 'lost'))),
        )
        const winners = outcomes.filter((o) => o.type === 'won')
        expect(winners.length, `trial ${trial}: ${JSON.stringify(outcomes)}`).toBe(1)
        expect(lockOf(file).token).toBe(winners[0]!.token)
        const winner = racers[outcomes.indexOf(winners[0]!)]!
        winner.send({ type: 'release' })
        await winner.waitFor((m) => m.type === 'released' && m.trial === trial)
        expect(readdirSync(dir), `trial ${trial}`).toEqual([])
      }
    },
    LAST_RESORT_TIMEOUT_MS,
  )
})

describe('leftovers', () => {
  test('start-up clean-up removes dead temp files, dead locks and dead claims, and keeps live ones', async () => {
    const dir = tempDir()
    const dead = deadPid()
    const host = currentProcess()
      .host.replace(/[^A-Za-z0-9_-]/g, '_')
      .slice(0, 63)
    writeFileSync(join(dir, `.a.json.${dead}-0123abcd.${host}.tmp`), 'half')
    writeFileSync(join(dir, `.b.json.${process.pid}-0123abcd.${host}.tmp`), 'mine, in progress')
    writeFileSync(join(dir, 'a.json.lock'), JSON.stringify({ ...currentProcess(), pid: dead, procStart: undefined, token: '1'.repeat(24) }))
    writeFileSync(
      join(dir, 'a.json.lock.takeover.2222222222222222.1'),
      JSON.stringify({ ...currentProcess(), pid: dead, procStart: undefined }),
    )
    const live = await acquireFileLock(join(dir, 'c.json'))
    const found = await findLeftovers(dir)
    expect(found.map((l) => [l.kind, l.path.slice(dir.length + 1)])).toEqual([
      ['temp', `.a.json.${dead}-0123abcd.${host}.tmp`],
      ['lock', 'a.json.lock'],
      ['claim', 'a.json.lock.takeover.2222222222222222.1'],
    ])
    await cleanUpLeftovers(dir)
    expect(readdirSync(dir).sort()).toEqual([`.b.json.${process.pid}-0123abcd.${host}.tmp`, 'c.json.lock'])
    await live.release()
  })
})
