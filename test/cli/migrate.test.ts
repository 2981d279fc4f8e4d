import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { tempDir } from '../helpers/backends.js'
import { runCli, runCliJson } from '../helpers/cli.js'

/** A TypeScript config (loaded through jiti) with the given migrations' bodies. */
function writeConfig(dir: string, versions: number): void {
  const all = [
    `{ version: 1, name: 'seed tasks', up: async (m: MigrationContext) => { await (await m.collection('tasks')).insert({ title: 'first' }) } }`,
    `{ version: 2, name: 'add priority', up: async (m: MigrationContext) => { await m.backfill('tasks', 'priority', () => 'normal') } }`,
    `{ version: 3, name: 'index priority', up: async (m: MigrationContext) => { await m.addIndex('tasks', 'priority') } }`,
  ]
  writeFileSync(
    join(dir, 'tandem.config.ts'),
    `import type { MigrationContext } from 'tandemdb'
interface Config { path: string; collections: Record<string, { writers: string[] }>; migrations: unknown[] }
const config: Config = {
  path: 'app.db',
  collections: { tasks: { writers: ['cli'] } },
  migrations: [${all.slice(0, versions).join(',\n    ')}],
}
export default config
`,
  )
}

interface MigrateJson {
  dryRun: boolean
  exists?: boolean
  created?: boolean
  storeVersion: number
  knownVersion: number
  migrations: { version: number; name: string; status: string }[]
}

test('migrate --dry-run lists what would run, migrate applies it once, and writes wait for pending migrations', () => {
  const dir = tempDir()
  writeConfig(dir, 2)

  const plan = runCliJson<MigrateJson>(['migrate', '--dry-run'], { cwd: dir })
  expect(plan.status).toBe(0)
  expect(plan.result).toMatchObject({ dryRun: true, exists: false, storeVersion: 0, knownVersion: 2 })
  expect(plan.result.migrations.map((m) => m.status)).toEqual(['pending', 'pending'])
  expect(existsSync(join(dir, 'app.db'))).toBe(false) // a dry run creates nothing

  const applied = runCliJson<MigrateJson>(['migrate'], { cwd: dir })
  expect(applied.status).toBe(0)
  expect(applied.result).toMatchObject({ dryRun: false, created: true, storeVersion: 2, knownVersion: 2 })
  expect(applied.result.migrations).toEqual([
    { version: 1, name: 'seed tasks', status: 'applied' },
    { version: 2, name: 'add priority', status: 'applied' },
  ])
  const [task] = runCliJson<{ records: { data: Record<string, unknown> }[] }>(['find', 'tasks'], { cwd: dir }).result.records
  expect(task?.data).toEqual({ title: 'first', priority: 'normal' })

  const again = runCli(['migrate'], { cwd: dir })
  expect(again.stdout).toMatch(/1\s+seed tasks\s+already-applied[\s\S]*Nothing to apply; the store is at schema version 2\./)

  // A new migration in the config: writes refuse to run it as a side effect.
  writeConfig(dir, 3)
  const blocked = runCliJson(['put', 'tasks', '--data', '{"title":"x"}'], { cwd: dir })
  expect(blocked).toMatchObject({
    status: 3,
    result: { error: { code: 'MIGRATIONS_PENDING', hint: expect.stringMatching(/tandem migrate/) } },
  })
  const human = runCli(['migrate', '--dry-run'], { cwd: dir })
  expect(human.stdout).toMatch(
    /is at schema version 2; the config knows 3\.[\s\S]*3\s+index priority\s+pending[\s\S]*1 migration would be applied/,
  )
  expect(runCliJson<MigrateJson>(['migrate'], { cwd: dir }).result.storeVersion).toBe(3)
  expect(runCliJson(['put', 'tasks', '--data', '{"title":"x"}'], { cwd: dir }).status).toBe(0)
})

test('a failing migration is reported as MIGRATION_FAILED, exit 3, and a broken config as CONFIG_INVALID, exit 2', () => {
  const dir = tempDir()
  writeFileSync(
    join(dir, 'tandem.config.mjs'),
    `export default { path: 'app.db', collections: {}, migrations: [{ version: 1, name: 'boom', up: () => { throw new Error('column missing') } }] }\n`,
  )
  const failed = runCliJson(['migrate'], { cwd: dir })
  expect(failed).toMatchObject({
    status: 3,
    result: {
      error: { code: 'MIGRATION_FAILED', message: expect.stringMatching(/Migration 1 "boom" failed and was rolled back: column missing/) },
    },
  })

  writeFileSync(join(dir, 'tandem.config.mjs'), `export default { path: 'app.db', collections: { tasks: { writers: [] } } }\n`)
  const invalid = runCliJson(['migrate'], { cwd: dir })
  expect(invalid).toMatchObject({
    status: 2,
    result: {
      error: {
        code: 'CONFIG_INVALID',
        message: expect.stringMatching(/tandem\.config\.mjs: collections\.tasks\.writers must be a non-empty array/),
      },
    },
  })
  writeFileSync(join(dir, 'broken.config.json'), '{ "path": ')
  const broken = runCliJson(['status', '--config', join(dir, 'broken.config.json')], { cwd: dir })
  expect(broken).toMatchObject({ status: 2, result: { error: { code: 'CONFIG_INVALID' } } })
})
