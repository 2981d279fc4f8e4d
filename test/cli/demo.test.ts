import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { tempDir } from '../helpers/backends.js'

const CLI = join(import.meta.dirname, '../../dist/cli/main.js')

test('the built CLI demo runs two processes, kills one, and finds every acknowledged write', () => {
  expect(existsSync(CLI), 'run npm run build first').toBe(true)
  const dir = tempDir()
  const run = spawnSync(process.execPath, [CLI, 'demo', '--seconds', '3', '--dir', dir, '--json'], { encoding: 'utf8', timeout: 60_000 })
  expect(run.status, run.stderr).toBe(0)
  const result = JSON.parse(run.stdout) as { ok: boolean; kills: number; acknowledgedWrites: number; missingWrites: string[]; integrity: string[] }
  expect(result).toMatchObject({ ok: true, kills: 1, missingWrites: [], integrity: ['ok'] })
  expect(result.acknowledgedWrites).toBeGreaterThan(100)
  expect(run.stderr).toMatch(/killed the daemon/)
})

test('an unknown command and a bad option exit 2 with a hint', () => {
  const unknown = spawnSync(process.execPath, [CLI, 'frobnicate'], { encoding: 'utf8' })
  expect(unknown.status).toBe(2)
  expect(unknown.stderr).toMatch(/unknown command "frobnicate"[\s\S]*try: tandem --help/)
  const bad = spawnSync(process.execPath, [CLI, 'demo', '--seconds', 'x', '--json'], { encoding: 'utf8' })
  expect(bad.status).toBe(2)
  expect(JSON.parse(bad.stdout)).toMatchObject({ error: { code: 'USAGE', message: expect.stringMatching(/--seconds/) } })
})
