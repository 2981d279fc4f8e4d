import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { expect, onTestFinished, test } from 'vitest'
import { tempDir } from '../helpers/backends.js'

const CLI = join(import.meta.dirname, '../../dist/cli/main.js')

test('the built CLI demo runs two processes, kills one, and finds every acknowledged write', () => {
  expect(existsSync(CLI), 'run npm run build first').toBe(true)
  const dir = tempDir()
  const run = spawnSync(process.execPath, [CLI, 'demo', '--seconds', '3', '--dir', dir, '--json'], { encoding: 'utf8', timeout: 60_000 })
  expect(run.status, run.stderr).toBe(0)
  const result = JSON.parse(run.stdout) as {
    ok: boolean
    kills: number
    acknowledgedWrites: number
    missingWrites: string[]
    integrity: string[]
  }
  expect(result).toMatchObject({ ok: true, kills: 1, missingWrites: [], integrity: ['ok'] })
  expect(result.acknowledgedWrites).toBeGreaterThan(100)
  expect(run.stderr).toMatch(/killed the daemon/)
})

test('an unknown command and a bad option exit 2 with a hint', () => {
  const unknown = spawnSync(process.execPath, [CLI, 'frobnicate'], { encoding: 'utf8' })
  expect(unknown.status).toBe(2)
  expect(unknown.stderr).toMatch(/Unknown command "frobnicate"[\s\S]*try: tandem --help/)
  const bad = spawnSync(process.execPath, [CLI, 'demo', '--seconds', 'x', '--json'], { encoding: 'utf8' })
  expect(bad.status).toBe(2)
  expect(JSON.parse(bad.stdout)).toMatchObject({ error: { code: 'USAGE', message: expect.stringMatching(/--seconds/) } })
})

test('without --dir the demo removes its temporary folder when it ends', () => {
  const tmp = tempDir()
  const run = spawnSync(process.execPath, [CLI, 'demo', '--seconds', '2', '--json'], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, TMPDIR: tmp },
  })
  expect(run.status, run.stderr).toBe(0)
  const result = JSON.parse(run.stdout) as { ok: boolean; store: string; storeRemoved: boolean }
  expect(result).toMatchObject({ ok: true, storeRemoved: true, store: expect.stringContaining(tmp) })
  expect(readdirSync(tmp)).toEqual([])
})

test.each(['SIGINT', 'SIGTERM'] as const)(
  'on %s mid-way the demo stops its processes, removes its temporary folder and exits 128+signal',
  async (signal) => {
    const tmp = tempDir()
    const child = spawn(process.execPath, [CLI, 'demo', '--seconds', '60'], {
      env: { ...process.env, NO_COLOR: '1', TMPDIR: tmp },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    })
    let stdout = ''
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)))
    // Mid-way: the workers are writing and a progress row has been printed.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no progress row within 30 s:\n${stdout}\n${stderr}`)), 30_000)
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString()
        if (/^\s+\d+\.\ds\s+\d+/m.test(stdout)) {
          clearTimeout(timer)
          resolve()
        }
      })
    })
    const store = /^Store: (\S+)/m.exec(stdout)?.[1]
    expect(store).toContain(tmp)
    expect(existsSync(store!)).toBe(true)
    child.kill(signal)
    expect(await exited).toBe(signal === 'SIGINT' ? 130 : 143)
    expect(stderr).toMatch(new RegExp(`Interrupted \\(${signal}\\): stopped the demo's processes and removed `))
    expect(readdirSync(tmp)).toEqual([])
    // No worker outlives it: each was started with the store's path in its arguments.
    expect(spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).stdout).not.toContain(store!)
  },
)
