import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { tempDir } from '../helpers/backends.js'
import { expectNoStack, runCli, startCli } from '../helpers/cli.js'

// tandem inspect from the shell: its usage errors, and the one place its token appears.

function project(): string {
  const dir = tempDir()
  writeFileSync(
    join(dir, 'tandem.config.json'),
    JSON.stringify({ path: 'data/app.db', collections: { jobs: { writers: ['daemon'] } }, roles: { daemon: {} } }),
  )
  expect(runCli(['migrate'], { cwd: dir }).status).toBe(0)
  return dir
}

test('--write needs --role, --role needs --write, and write mode needs the config', () => {
  const dir = project()
  for (const args of [['--write'], ['--role', 'daemon'], ['--write', '--role', 'bad role']]) {
    const run = runCli(['inspect', ...args], { cwd: dir })
    expect(run.status).toBe(2)
    expect(run.stderr).toMatch(/--role|--write/)
    expectNoStack(run)
  }
  const elsewhere = tempDir()
  const noConfig = runCli(['inspect', join(dir, 'data/app.db'), '--write', '--role', 'daemon'], { cwd: elsewhere })
  expect([noConfig.status, noConfig.stderr]).toEqual([2, expect.stringMatching(/NO_CONFIG/)])
  const missing = runCli(['inspect', join(elsewhere, 'none.db')], { cwd: elsewhere })
  expect([missing.status, missing.stderr]).toEqual([2, expect.stringMatching(/STORE_NOT_FOUND/)])
})

test('the token appears once, in the URL on stdout; stderr and --json name no secret elsewhere; SIGINT stops it', async () => {
  const dir = project()
  const inspector = startCli(['inspect', '--json'], { cwd: dir })
  await inspector.waitFor('stdout', /"url"/, 30_000)
  await inspector.waitFor('stderr', /Ctrl-C stops/, 30_000)
  const { url, mode } = JSON.parse(inspector.stdout()) as { url: string; mode: string }
  expect(mode).toBe('read-only')
  const token = url.split('#token=')[1]!
  expect(token).toMatch(/^tdi_/)
  expect(inspector.stderr()).not.toContain(token)
  const base = url.split('#')[0]!
  expect((await fetch(`${base}inspector/api/session`)).status).toBe(401)
  const session = await fetch(`${base}inspector/api/session`, { headers: { authorization: `Bearer ${token}` } })
  expect(await session.json()).toMatchObject({ mode: 'read-only', kind: 'sqlite' })
  // The page and its scripts say nothing of the store and load without the token, from this server only.
  const page = await fetch(base)
  expect(page.headers.get('content-security-policy')).toMatch(/default-src 'none'; script-src 'self'/)
  inspector.child.kill('SIGINT')
  expect((await inspector.exited).code).toBe(0)
  expect(`${inspector.stdout()}${inspector.stderr()}`.split(token).length - 1).toBe(1)
})

test('read-only, it opens a store without a config and shows what the store recorded about each collection', async () => {
  const dir = project()
  expect(runCli(['put', 'jobs', '--data', '{"cmd":"build"}', '--as', 'daemon'], { cwd: dir }).status).toBe(0)
  const inspector = startCli(['inspect', join(dir, 'data/app.db'), '--json'], { cwd: tempDir() })
  await inspector.waitFor('stdout', /"url"/, 30_000)
  const { url } = JSON.parse(inspector.stdout()) as { url: string }
  const headers = { authorization: `Bearer ${url.split('#token=')[1]!}` }
  const base = url.split('#')[0]!
  const overview = (await (await fetch(`${base}inspector/api/collections`, { headers })).json()) as {
    collections: { name: string; count: number; writers: string[] }[]
  }
  expect(overview.collections).toEqual([expect.objectContaining({ name: 'jobs', count: 1, writers: ['daemon'] })])
  const page = (await (await fetch(`${base}v1/collections/jobs/records`, { headers })).json()) as { records: { data: unknown }[] }
  expect(page.records.map((r) => r.data)).toEqual([{ cmd: 'build' }])
  inspector.child.kill('SIGINT')
  expect((await inspector.exited).code).toBe(0)
})
