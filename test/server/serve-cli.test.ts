import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { tempDir } from '../helpers/backends.js'
import { expectNoStack, runCli, runCliJson, startCli } from '../helpers/cli.js'
import { call } from './serve-helpers.js'

// `tandem token` and `tandem serve` as a user runs them.

function project(): string {
  const dir = tempDir()
  writeFileSync(join(dir, 'tandem.config.json'), JSON.stringify({ path: 'data/app.db', collections: { jobs: { writers: ['daemon'] } } }))
  expect(runCli(['migrate'], { cwd: dir }).status).toBe(0)
  return dir
}

test('token create prints the secret once, list never shows it, revoke removes it', async () => {
  const dir = project()
  const plain = runCli(['token', 'create', '--role', 'daemon', '--name', 'd1'], { cwd: dir })
  expect(plain.status).toBe(0)
  const secret = plain.stdout.trim()
  expect(secret).toMatch(/^tdm_[A-Za-z0-9_-]{43}$/)
  expect(plain.stderr).toMatch(/only time it is shown/)
  const made = runCliJson<{ id: string; name: string; role: string; token: string }>(['token', 'create', '--role', 'dashboard'], {
    cwd: dir,
  })
  expect(made.result).toMatchObject({ role: 'dashboard', token: expect.stringMatching(/^tdm_/) })

  const list = runCli(['token', 'list'], { cwd: dir })
  expect(list.stdout).toMatch(/d1\s+daemon/)
  expect(list.stdout).not.toContain(secret)
  expect(readFileSync(join(dir, 'data/app.db.tokens.json'), 'utf8')).not.toContain(secret)
  const listed = runCliJson<{ name: string }[]>(['token', 'list'], { cwd: dir })
  expect(listed.result.map((t) => t.name).sort()).toEqual(['d1', made.result.name].sort())
  expect(JSON.stringify(listed.result)).not.toMatch(/sha256|tdm_/)

  expect(runCli(['token', 'revoke', 'd1'], { cwd: dir }).status).toBe(0)
  const again = runCliJson<{ error: { code: string } }>(['token', 'revoke', 'd1'], { cwd: dir })
  expect([again.status, again.result.error.code]).toEqual([3, 'NOT_FOUND'])
  const bad = runCli(['token', 'create'], { cwd: dir })
  expect(bad.status).toBe(2)
  expectNoStack(bad)
})

test('tandem serve answers with the token role, refuses a public address without --allow-remote, and stops cleanly on SIGINT', async () => {
  const dir = project()
  const token = runCli(['token', 'create', '--role', 'daemon'], { cwd: dir }).stdout.trim()
  const refused = runCli(['serve', '--host', '0.0.0.0', '--port', '0'], { cwd: dir })
  expect(refused.status).toBe(2)
  expect(refused.stderr).toMatch(/allow-remote/)
  expectNoStack(refused)

  const server = startCli(['serve', '--port', '0', '--json'], { cwd: dir })
  await server.waitFor('stdout', /"url"/, 30_000)
  const { url } = JSON.parse(server.stdout()) as { url: string }
  const inserted = await call(url, 'POST', '/v1/collections/jobs/records', { token, body: { data: { cmd: 'build' } } })
  expect([inserted.status, inserted.body.role]).toEqual([201, 'daemon'])
  server.child.kill('SIGINT')
  expect((await server.exited).code).toBe(0)
  expect(runCliJson<{ records: unknown[] }>(['find', 'jobs'], { cwd: dir }).result.records).toHaveLength(1)
})
