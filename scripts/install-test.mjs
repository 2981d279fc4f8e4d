#!/usr/bin/env node
// Installs tandemdb the way a user does, into a new empty project, and uses it from there:
//   npm pack  →  npm install <tarball> in a temp project  →  an ESM script, a CommonJS require(),
//   a strict TypeScript file (tsc --noEmit), `npx tandem --version` and `npx tandem demo`.
// With --git it installs from a git URL of this checkout instead (npm clones it, installs its dev
// dependencies and runs `prepare`, which builds dist/).
// Exits non-zero, naming the step, on the first failure. `npm run test:install`; run by .ci/run.
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const root = resolve(import.meta.dirname, '..')
const fromGit = process.argv.includes('--git')
const keep = process.argv.includes('--keep')
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'))
/** The version this repository's lockfile pins, so the test project uses what the tests use. */
const locked = (name) => lock.packages[`node_modules/${name}`]?.version ?? 'latest'
const pgUrl = process.env.TANDEM_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const schema = `install_test_${process.pid}`
const appEnv = { ...process.env, TANDEM_PG_URL: pgUrl, TANDEM_INSTALL_SCHEMA: schema }

const work = mkdtempSync(join(tmpdir(), 'tandem-install-'))
const project = join(work, 'app')
let step = 'start'

function run(command, args, options = {}) {
  const started = Date.now()
  process.stderr.write(`[install-test] ${step}: ${command} ${args.join(' ')}\n`)
  const output = execFileSync(command, args, {
    cwd: project,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 << 20,
    ...options,
  })
  process.stderr.write(`[install-test] ${step}: done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`)
  return output
}

async function dropSchema() {
  const { default: pg } = await import('pg')
  const client = new pg.Client({ connectionString: pgUrl })
  try {
    await client.connect()
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
  } catch {
    // Nothing to drop, or no server: the ESM step has said so already.
  } finally {
    await client.end().catch(() => {})
  }
}

function expect(condition, what) {
  if (!condition) throw new Error(`${step}: ${what}`)
}

try {
  execFileSync('mkdir', ['-p', project])
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'tandem-install-test', private: true, type: 'module' }, null, 2))

  step = 'pack'
  let spec
  if (fromGit) {
    spec = `git+file://${root}#${execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim()}`
  } else {
    const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', work], { cwd: root }))
    const files = packed[0].files.map((f) => f.path)
    expect(!files.some((f) => f.endsWith('.map')), 'the tarball ships source maps whose sources it does not ship')
    expect(!files.some((f) => /\.test\./.test(f)), 'the tarball ships test files')
    for (const needed of [
      'LICENSE',
      'README.md',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/postgres.js',
      'dist/lifecycle.js',
      'dist/backend.js',
      'dist/fs.js',
      'dist/cli/main.js',
    ])
      expect(files.includes(needed), `the tarball lacks ${needed}`)
    spec = join(work, packed[0].filename)
    process.stderr.write(
      `[install-test] tarball: ${packed[0].filename}, ${files.length} files, ${(packed[0].size / 1024).toFixed(0)} KiB packed\n`,
    )
  }

  step = 'install'
  // Run by hand rather than run(): npm's warnings go to stderr, and an EBADENGINE warning means a
  // dependency (however deep) does not accept this Node, which package.json's engines promises.
  process.stderr.write(`[install-test] ${step}: npm install ${spec}\n`)
  const install = spawnSync(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      spec,
      `pg@${locked('pg')}`,
      `typescript@${locked('typescript')}`,
      `@types/node@${locked('@types/node')}`,
    ],
    { cwd: project, encoding: 'utf8', maxBuffer: 64 << 20 },
  )
  expect(install.status === 0, `npm install exited with ${install.status}: ${install.stderr.slice(-3000)}`)
  const engineWarnings = install.stderr.split('\n').filter((line) => line.includes('EBADENGINE'))
  expect(engineWarnings.length === 0, `a dependency does not accept Node ${process.version}:\n${engineWarnings.join('\n')}`)

  step = 'ESM import'
  writeFileSync(
    join(project, 'app.mjs'),
    `import { openStore, defineStore, TandemError } from 'tandemdb'
import { PostgresBackend } from 'tandemdb/postgres'
import { exportStore } from 'tandemdb/lifecycle'
import { SqliteBackend } from 'tandemdb/backend'
import { updateFile } from 'tandemdb/fs'
await updateFile('counter.txt', (text) => String(Number(text ?? '0') + 1))
const definition = defineStore({ dataDir: 'data', path: 'app.db', collections: { notes: { writers: ['app'], indexes: ['tag'] } } })
const store = await openStore({ ...definition, role: 'app' })
const note = await store.collection('notes').insert({ tag: 'install', text: 'hello' })
const found = await store.collection('notes').find({ where: { tag: 'install' } })
if (found.length !== 1 || found[0].id !== note.id) throw new Error('find did not return the inserted note')
try { await store.collection('notes').insert({ text: 1 }, { id: note.id }) } catch (e) { if (!(e instanceof TandemError) || e.code !== 'DUPLICATE_ID') throw e }
const exported = await exportStore(store, { to: 'notes.ndjson' })
if (exported.records !== 1) throw new Error('tandemdb/lifecycle exported ' + JSON.stringify(exported))
await store.close()
if (typeof SqliteBackend !== 'function') throw new Error('tandemdb/backend has no SqliteBackend')
if (typeof PostgresBackend !== 'function') throw new Error('tandemdb/postgres has no PostgresBackend')
const pg = await openStore({ url: process.env.TANDEM_PG_URL, postgres: { schema: process.env.TANDEM_INSTALL_SCHEMA }, role: 'app', collections: { notes: { writers: ['app'] } } })
const pgNote = await pg.collection('notes').insert({ text: 'hello' })
const again = await pg.collection('notes').get(pgNote.id)
await pg.close()
if (again?.data.text !== 'hello') throw new Error('PostgreSQL did not return the note: ' + JSON.stringify(again))
const { serveStore, createToken } = await import('tandemdb/server')
const { openRemoteStore } = await import('tandemdb/client')
const served = await openStore({ ...definition, roles: { serve: {} }, role: 'serve' })
const { secret } = createToken('data/app.db.tokens.json', 'app')
const server = await serveStore(served, { port: 0 })
const remote = await openRemoteStore(server.url, { token: secret })
const viaHttp = await remote.collection('notes').insert({ tag: 'http' })
if ((await remote.collection('notes').get(viaHttp.id))?.role !== 'app') throw new Error('tandemdb/client did not read back its insert')
await remote.close()
await server.close()
await served.close()
console.log('esm ok')
`,
  )
  expect(run('node', ['app.mjs'], { env: appEnv }).includes('esm ok'), 'the ESM script did not finish')

  step = 'CommonJS require'
  writeFileSync(
    join(project, 'app.cjs'),
    `const { openStore } = require('tandemdb')\nif (typeof openStore !== 'function') throw new Error('no openStore')\nconsole.log('cjs ok')\n`,
  )
  expect(run('node', ['app.cjs']).includes('cjs ok'), 'require("tandemdb") did not work')

  step = 'TypeScript'
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify(
      {
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noUncheckedIndexedAccess: true,
          noEmit: true,
          types: ['node'],
        },
        include: ['*.ts'],
      },
      null,
      2,
    ),
  )
  writeFileSync(
    join(project, 'app.ts'),
    `import { defineStore, openStore, type StoredRecord } from 'tandemdb'
import { openPostgresBackend, type PostgresConfig } from 'tandemdb/postgres'

const definition = defineStore({ path: 'data/app.db', collections: { notes: { writers: ['app'] } } })
const store = await openStore({ ...definition, role: 'app' })
const note: StoredRecord = await store.collection('notes').insert({ text: 'typed' })
// Without a schema a record's data is JSON, not any: narrow before use.
const text: string = typeof note.data.text === 'string' ? note.data.text : ''
console.log(text, typeof openPostgresBackend, ({} as PostgresConfig | undefined) === undefined)
await store.close()
`,
  )
  run(join(project, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json'])

  step = 'no CLI weight in the library'
  // import 'tandemdb' must not need what only the CLI's TypeScript configs use.
  rmSync(join(project, 'node_modules/jiti'), { recursive: true, force: true })
  rmSync(join(project, 'data'), { recursive: true, force: true })
  expect(run('node', ['app.mjs'], { env: appEnv }).includes('esm ok'), 'import "tandemdb" needs jiti')

  step = 'PostgreSQL without pg'
  rmSync(join(project, 'node_modules/pg'), { recursive: true, force: true })
  writeFileSync(
    join(project, 'no-pg.mjs'),
    `import { openStore } from 'tandemdb'
try { await openStore({ url: process.env.TANDEM_PG_URL, role: 'app', collections: {} }); console.log('opened?') }
catch (e) { console.log(e.code + ': ' + e.message + ' ' + e.hint) }
`,
  )
  const noPg = run('node', ['no-pg.mjs'], { env: appEnv })
  expect(/^MISSING_DEPENDENCY: .*npm install pg/m.test(noPg), `a postgres:// URL without pg said: ${noPg}`)

  step = 'npx tandem --version'
  const version = run('npx', ['--no-install', 'tandem', '--version']).trim()
  expect(version === pkg.version, `printed ${JSON.stringify(version)}, expected ${pkg.version}`)

  step = 'tandem inspect serves its page from the package'
  writeFileSync(
    join(project, 'inspect.mjs'),
    `import { spawn } from 'node:child_process'
const child = spawn(process.execPath, ['node_modules/tandemdb/dist/cli/main.js', 'inspect', 'data/app.db'], { stdio: ['ignore', 'pipe', 'inherit'] })
let out = ''
const url = await new Promise((resolve, reject) => {
  child.stdout.on('data', (d) => { out += d; if (out.includes('\\n')) resolve(out.split('\\n')[0].trim()) })
  child.once('exit', (code) => reject(new Error('tandem inspect exited ' + code)))
})
const base = url.split('#')[0].replace(/\\/$/, '')
const token = url.split('#token=')[1]
const page = await (await fetch(base + '/')).text()
const scripts = [...page.matchAll(/(?:src|href)="(\\/inspector\\/[^"]+)"/g)].map((m) => m[1])
const app = await (await fetch(base + '/inspector/app.js')).text()
for (const m of app.matchAll(/from '\\.\\/([^']+)'/g)) scripts.push('/inspector/' + m[1])
for (const path of scripts) {
  const res = await fetch(base + path)
  if (res.status !== 200) throw new Error(path + ' answered ' + res.status)
}
const collections = await (await fetch(base + '/inspector/api/collections', { headers: { authorization: 'Bearer ' + token } })).json()
if (collections.collections?.[0]?.name !== 'notes') throw new Error('collections: ' + JSON.stringify(collections))
child.kill('SIGINT')
console.log('inspect ok: ' + scripts.length + ' assets')
`,
  )
  expect(run('node', ['inspect.mjs']).includes('inspect ok'), 'tandem inspect did not serve its page')

  step = 'npx tandem demo'
  const demo = run('npx', ['--no-install', 'tandem', 'demo'])
  expect(/^OK: \d+ acknowledged writes, 0 missing/m.test(demo), `the demo did not end with its OK verdict:\n${demo.slice(-600)}`)

  console.log(
    `install test ok (${fromGit ? 'git URL' : 'packed tarball'}): ESM, CommonJS, TypeScript strict, tandemdb/postgres, tandemdb/server and tandemdb/client, npx tandem --version, inspect and demo`,
  )
} catch (error) {
  console.error(`install test FAILED at ${step}: ${error.message}`)
  if (error.stderr) console.error(String(error.stderr).slice(-3000))
  if (error.stdout) console.error(String(error.stdout).slice(-3000))
  process.exitCode = 1
} finally {
  await dropSchema()
  if (keep) console.error(`[install-test] kept ${work}`)
  else rmSync(work, { recursive: true, force: true })
}
