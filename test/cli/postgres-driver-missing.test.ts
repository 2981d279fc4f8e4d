import { spawnSync } from 'node:child_process'
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { tempDir } from '../helpers/backends.js'
import { CLI } from '../helpers/cli.js'

const ROOT = join(import.meta.dirname, '../..')

/**
 * An install of the built package without the optional `pg`: dist/ and package.json copied (a
 * symlinked dist would resolve back to this repo, where pg is), and every other dependency
 * linked from this repo's node_modules. Node then finds no pg from the copied files upward.
 */
function installWithoutPg(): string {
  expect(existsSync(CLI), 'run npm run build first').toBe(true)
  const root = join(tempDir(), 'app')
  mkdirSync(join(root, 'node_modules'), { recursive: true })
  cpSync(join(ROOT, 'dist'), join(root, 'dist'), { recursive: true })
  copyFileSync(join(ROOT, 'package.json'), join(root, 'package.json'))
  for (const name of readdirSync(join(ROOT, 'node_modules'))) {
    if (name === 'pg' || name.startsWith('.')) continue
    symlinkSync(join(ROOT, 'node_modules', name), join(root, 'node_modules', name))
  }
  return root
}

test('without the pg package a PostgreSQL url fails with MISSING_DEPENDENCY and says to npm install pg, not INTERNAL', () => {
  const root = installWithoutPg()
  const env = { ...process.env, NO_COLOR: '1', NODE_PATH: '', TANDEM_STORE: '' }
  const run = (args: string[]) =>
    spawnSync(process.execPath, [join(root, 'dist/cli/main.js'), ...args], { cwd: root, env, encoding: 'utf8', timeout: 30_000 })
  // The setup really lacks pg: the module cannot be resolved from the copied dist.
  const probe = spawnSync(
    process.execPath,
    ['--input-type=module', '-e', "import('pg').then(() => console.log('found'), (e) => console.log(e.code))"],
    { cwd: join(root, 'dist'), env, encoding: 'utf8' },
  )
  expect(probe.stdout.trim()).toBe('ERR_MODULE_NOT_FOUND')

  const url = 'postgres://app:secret-pw@127.0.0.1:5432/app'
  const human = run(['status', url])
  expect(human.status).toBe(3)
  expect(human.stderr).toMatch(
    /^error MISSING_DEPENDENCY: PostgreSQL stores need the "pg" package, which is not installed\. .*\ntry: .*npm install pg/,
  )
  expect(human.stderr).not.toContain('secret-pw')
  const json = run(['find', 'tasks', '--store', url, '--json'])
  expect(json.status).toBe(3)
  expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: 'MISSING_DEPENDENCY', hint: expect.stringMatching(/npm install pg/) } })
  const copy = run(['copy', url, join(root, 'copy.db'), '--json'])
  expect(JSON.parse(copy.stdout)).toMatchObject({ error: { code: 'MISSING_DEPENDENCY' } })
  // The CLI itself starts without it.
  expect(run(['--version']).status).toBe(0)
})
