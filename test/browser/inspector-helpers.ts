import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { chromium, type Browser, type Page } from 'playwright-core'
import { expect, onTestFinished } from 'vitest'
import { tempDir } from '../helpers/backends.js'
import { CLI } from '../helpers/cli.js'

// A project a browser test inspects: a config with a zod schema, a script other processes run to
// write the store, and the inspector started as a user starts it (node dist/cli/main.js inspect).

const root = resolve(import.meta.dirname, '../..')
export const ARTIFACTS = join(root, 'test-artifacts/inspector')
const zod = pathToFileURL(createRequire(import.meta.url).resolve('zod')).href
const library = pathToFileURL(join(root, 'dist/index.js')).href

/** Seed: 120 tasks (t000..t119, every third done), 10 events, a consumer "audit" that acknowledged 5 changes. */
const WRITER = `
import { openStore } from '${library}'
import config from './tandem.config.mjs'
const [role, action, ...args] = process.argv.slice(2)
const pg = process.env.INSPECT_PG_URL
const store = await openStore({ ...config, ...(pg ? { path: undefined, url: pg, postgres: { schema: process.env.INSPECT_PG_SCHEMA } } : {}), role })
const out = (value) => process.stdout.write(JSON.stringify(value) + '\\n')
if (action === 'seed') {
  const tasks = store.collection('tasks')
  for (let i = 0; i < 120; i++) await tasks.insert({ title: 'task ' + i, status: i % 3 === 0 ? 'done' : 'open', n: i }, { id: 't' + String(i).padStart(3, '0') })
} else if (action === 'events') {
  for (let i = 0; i < 10; i++) await store.collection('events').insert({ kind: 'seed', i })
  const audit = store.consumer('audit', { start: 'beginning' })
  let n = 0
  for await (const c of await audit.changes()) { await audit.ack(c.seq); if (++n === 5) break }
} else if (action === 'patch') {
  const record = await store.collection(args[0]).patch(args[1], JSON.parse(args[2]))
  out({ version: record.version, at: Date.now() })
} else if (action === 'insert') {
  await store.collection(args[0]).insert(JSON.parse(args[2]), { id: args[1] })
  out({ at: Date.now() })
} else if (action === 'tick') {
  // Keeps writing until killed: the inspector looks at a store other processes are writing.
  out({ ready: true })
  for (let i = 0; ; i++) {
    await store.collection('events').insert({ kind: 'tick', i })
    await new Promise((r) => setTimeout(r, 300))
  }
}
await store.close()
`

const CONFIG = `
import { z } from '${zod}'
export default {
  path: 'data/app.db',
  roles: { daemon: {}, admin: {}, worker: {} },
  collections: {
    tasks: {
      writers: ['daemon', 'admin'],
      indexes: ['status'],
      schema: z.object({ title: z.string(), status: z.enum(['open', 'done']), n: z.number().int() }),
    },
    events: { writers: ['worker'], retain: { maxCount: 100000 } },
  },
}
`

export interface Project {
  dir: string
  env: NodeJS.ProcessEnv
  /** Runs the writer script as `role` to completion; resolves with its last JSON line, if any. */
  write(role: string, action: string, ...args: string[]): Promise<Record<string, number> | undefined>
}

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.once('close', (code) => (code === 0 ? done(stdout) : fail(new Error(`${args.join(' ')} exited ${code}: ${stderr}`))))
  })
}

/** A project with a seeded store: SQLite by default, or the PostgreSQL schema given. */
export async function makeProject(pg?: { url: string; schema: string }): Promise<Project> {
  const dir = tempDir('tandem-inspect-')
  mkdirSync(join(dir, 'data'))
  writeFileSync(join(dir, 'tandem.config.mjs'), CONFIG)
  writeFileSync(join(dir, 'writer.mjs'), WRITER)
  const env = { ...process.env, NO_COLOR: '1', ...(pg === undefined ? {} : { INSPECT_PG_URL: pg.url, INSPECT_PG_SCHEMA: pg.schema }) }
  const project: Project = {
    dir,
    env,
    async write(role, action, ...args) {
      const stdout = await run(process.execPath, ['writer.mjs', role, action, ...args], dir, env)
      const last = stdout.trim().split('\n').at(-1)
      return last ? (JSON.parse(last) as Record<string, number>) : undefined
    },
  }
  await project.write('daemon', 'seed')
  await project.write('worker', 'events')
  return project
}

/** A long-running child process of the project (the inspector, a writer), killed when the test ends. */
export function startChild(
  project: Project,
  args: string[],
): { child: ChildProcess; stdout: () => string; stderr: () => string; line: () => Promise<string> } {
  const child = spawn(process.execPath, args, { cwd: project.dir, env: project.env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  // The first line on stdout: waits for progress (output or exit), not for a fixed time.
  const line = () =>
    new Promise<string>((done, fail) => {
      const check = () => {
        if (stdout.includes('\n')) return done(stdout.split('\n')[0]!)
        if (child.exitCode !== null) return fail(new Error(`${args.join(' ')} exited ${child.exitCode}: ${stderr}`))
        setTimeout(check, 20)
      }
      check()
    })
  return { child, stdout: () => stdout, stderr: () => stderr, line }
}

/** Starts `tandem inspect` with `args`; resolves with its URL (printed once on stdout) and the process. */
export async function startInspector(project: Project, args: string[] = []) {
  const inspector = startChild(project, [CLI, 'inspect', ...args])
  const url = (await inspector.line()).trim()
  expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/#token=tdi_[A-Za-z0-9_-]{43}$/)
  return { ...inspector, url, token: url.split('#token=')[1]! }
}

/** Debian's chromium, headless, allowed to resolve nothing but loopback (no outside request can leave). */
export async function launchBrowser(): Promise<Browser> {
  const executablePath = process.env.CHROMIUM_PATH ?? execFileSync('sh', ['-c', 'command -v chromium']).toString().trim()
  return chromium.launch({ executablePath, args: ['--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost'] })
}

/** Opens a page that fails the test on any request to another origin, and on any page error. */
export async function openPage(browser: Browser, url: string, size = { width: 1280, height: 860 }): Promise<Page> {
  const page = await browser.newPage({ viewport: size })
  const origin = new URL(url).origin
  const outside: string[] = []
  const errors: string[] = []
  page.on('request', (request) => {
    if (!request.url().startsWith(origin) && !request.url().startsWith('data:')) outside.push(request.url())
  })
  page.on('pageerror', (error) => errors.push(error.message))
  onTestFinished(async () => {
    await page.close()
    expect(outside, 'requests outside the inspector').toEqual([])
    expect(errors, 'errors in the page').toEqual([])
  })
  await page.goto(url)
  return page
}

/** Shows a screen of the page (its hash route). */
export async function go(page: Page, hash: string): Promise<void> {
  await page.evaluate(`location.hash = ${JSON.stringify(hash)}`)
}

/** A screenshot of the whole page, or of the window only (`fullPage: false`: the one docs/images keeps). */
export async function screenshot(page: Page, name: string, fullPage = true): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true })
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage })
}
