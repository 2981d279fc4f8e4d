/**
 * Docs that run: every fenced block of README.md and docs/*.md is checked here, or marked as a
 * fragment on purpose. Needs `npm run build` first (blocks import the built package).
 *
 * How each block is checked, by the first word of its info string:
 * - `fragment` anywhere in the info string (```ts fragment, ```text fragment): skipped on purpose.
 *   For output samples, usage synopses, shell sessions that install or run the whole suite or the
 *   benchmarks, and illustrative interfaces. Keep them few.
 * - ts / js: a program. Type-checked by the TypeScript compiler (strict, module nodenext, as a
 *   user's project would be), then run with node in a fresh folder that is its working directory; it must exit 0 within
 *   a minute. It imports 'tandemdb' as a user does: the files are written inside this repository
 *   (the gitignored .docs-check/ folder), where Node's package self-reference resolves 'tandemdb' to
 *   dist/. Blocks that belong together:
 *   - a block flagged `continued` (```ts continued) is appended to the program of the block
 *     before it in the same file, and they run as one program;
 *   - a block whose first line is `// name.ts` (a comment may follow) holds several files, split at
 *     each `// name.ts` line after a blank line; the files no other file imports run at the same
 *     time, each as its own process (two processes sharing one store), and all must exit 0.
 *   Hidden setup is an HTML comment right before the block, visible in the markdown source:
 *   `<!-- docs-check setup` ... `-->`. Its lines run first, in the same program. Keep it minimal.
 * - sh / bash: a shell script run by bash (set -e, pipefail) in a prepared project: the
 *   tandem.config.json of doc-project.ts and its store, data/app.db, with a few records. `tandem` and
 *   `npx tandem` run the built CLI (node dist/cli/main.js); `tandem watch` gets SIGINT, as
 *   Ctrl-C, a second after its banner, and must exit 0; any other npx or npm command fails the
 *   block (mark such blocks fragment). A setup comment before a shell block holds shell lines run first.
 * - python / py: run by python3 in the same prepared project, by test/docs/python-blocks.test.ts.
 * - json / jsonc: parsed (jsonc after removing comments).
 * - anything else, or no language: fails. Give it one of the languages above or mark it fragment.
 *
 * PostgreSQL: a block that mentions DATABASE_URL gets it in its environment: a new, empty database
 * of its own on the server of TANDEM_PG_URL (default postgres://postgres@127.0.0.1:5432/test),
 * dropped after the run. So blocks read the url from the environment and name their schemas as an
 * application would. Without a server they are skipped ("skipped: no Postgres"); with CI=true
 * they fail.
 *
 * Failures name the markdown file and line (of the block, and of the line that failed when known)
 * and the compiler's or the program's error. Set DOCS_CHECK_KEEP=1 to keep .docs-check/ to look at.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import ts from 'typescript'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isPidAlive } from '../../src/registry/process-registry.js'
import { PG_URL, pgAdmin } from '../helpers/backends.js'
import {
  assemblePrograms,
  describeOrigin,
  docFiles,
  entryFiles,
  kindOf,
  label,
  outputName,
  parseBlocks,
  slug,
  stripJsonComments,
  type DocBlock,
  type LineOrigin,
  type Program,
} from './doc-blocks.js'
import { prepareProject } from './doc-project.js'
import { runProcess, tail } from './run-process.js'

const ROOT = join(import.meta.dirname, '../..')
const CLI = join(ROOT, 'dist/cli/main.js')
// Inside the repository, so that 'tandemdb' resolves to dist/ (package self-reference).
const SCRATCH = join(ROOT, '.docs-check')
const RUN_DIR = join(SCRATCH, `run-${process.pid}-${Date.now().toString(36)}`)
const RUN_TIMEOUT_MS = 60_000
/** `tandem watch` gets SIGINT this long after its banner, or after WATCH_MAX_MS without one. */
const WATCH_AFTER_BANNER_MS = 1000
const WATCH_MAX_MS = 30_000

const blocks: DocBlock[] = docFiles(ROOT).flatMap((file) => parseBlocks(ROOT, file))
const programs: Program[] = docFiles(ROOT).flatMap((file) => assemblePrograms(blocks.filter((b) => b.file === file)))

/** The compiler's errors, by program id. */
const diagnostics = new Map<string, string[]>()
/** Why PostgreSQL blocks cannot run (no server answers), or undefined when they can. */
let postgresMissing: string | undefined
/** The databases made for PostgreSQL blocks, dropped after the run. */
const databases: string[] = []

const usesPostgres = (text: string) => text.includes('DATABASE_URL')

function programDir(program: Program, part: 'src' | 'out'): string {
  return join(RUN_DIR, part, program.id)
}

/** Maps `file.ts:LINE:COL` of a generated file, in a stack trace, to the markdown line it came from. */
function mapPaths(text: string, program: Program): string {
  let out = text
  for (const file of program.files) {
    for (const path of [join(programDir(program, 'src'), file.name), join(programDir(program, 'out'), outputName(file.name))]) {
      const escaped = path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
      out = out.replace(new RegExp(`(?:file://)?${escaped}:(\\d+)(?::\\d+)?`, 'g'), (_m, line: string) =>
        describeOrigin(file.origins[Number(line) - 1]),
      )
    }
  }
  return out
}

function blockEnv(databaseUrl: string | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', PATH: `${join(RUN_DIR, 'bin')}:${process.env.PATH ?? ''}` }
  delete env.TANDEM_STORE
  delete env.DATABASE_URL
  if (databaseUrl !== undefined) env.DATABASE_URL = databaseUrl
  return env
}

/**
 * For a block that uses DATABASE_URL: a new, empty database of its own on the test server, so that
 * blocks may use any schema without meeting another block's (or another run's) data. Skips the
 * block when no server answers; in CI that is a failure instead.
 */
async function databaseFor(text: string, skip: (note: string) => never): Promise<string | undefined> {
  if (!usesPostgres(text)) return undefined
  if (postgresMissing !== undefined) {
    const reason = `no Postgres at ${PG_URL}: ${postgresMissing}`
    if (process.env.CI === 'true') expect.fail(`This block needs PostgreSQL (DATABASE_URL), and there is ${reason}.`)
    console.warn(`skipped: ${reason}`)
    skip(reason)
  }
  const database = `tandem_docs_${process.pid}_${databases.length}_${Math.random().toString(36).slice(2, 8)}`
  await pgAdmin((client) => client.query(`CREATE DATABASE "${database}"`))
  databases.push(database)
  const url = new URL(PG_URL)
  url.pathname = `/${database}`
  return url.toString()
}

function writeProgram(program: Program): void {
  const dir = programDir(program, 'src')
  mkdirSync(dir, { recursive: true })
  for (const file of program.files) writeFileSync(join(dir, file.name), `${file.lines.join('\n')}\n`)
}

/**
 * Type-checks and compiles every program as one TypeScript program (the compiler API, not the tsc
 * command: tsc leaves out every type error once any file has a syntax error). Keeps each
 * program's errors, syntax and types alike.
 */
function compilePrograms(): void {
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    moduleDetection: ts.ModuleDetectionKind.Force,
    lib: ['lib.es2023.d.ts'],
    types: ['node'],
    strict: true,
    skipLibCheck: true,
    allowJs: true,
    checkJs: true,
    rootDir: join(RUN_DIR, 'src'),
    outDir: join(RUN_DIR, 'out'),
    sourceMap: true,
  }
  const names: string[] = []
  for (const program of programs) {
    writeProgram(program)
    diagnostics.set(program.id, [])
    for (const file of program.files) names.push(join(programDir(program, 'src'), file.name))
  }
  const compiler = ts.createProgram(names, options)
  const global = [...compiler.getOptionsDiagnostics(), ...compiler.getGlobalDiagnostics()]
  if (global.length > 0)
    throw new Error(
      `The docs' TypeScript setup is broken: ${global.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('; ')}`,
    )
  for (const program of programs) {
    for (const file of program.files) {
      const source = compiler.getSourceFile(join(programDir(program, 'src'), file.name))!
      for (const d of [...compiler.getSyntacticDiagnostics(source), ...compiler.getSemanticDiagnostics(source)]) {
        const line = d.start === undefined ? 0 : source.getLineAndCharacterOfPosition(d.start).line
        const text = ts.flattenDiagnosticMessageText(d.messageText, '\n    ')
        diagnostics
          .get(program.id)!
          .push(`${describeOrigin(file.origins[line])}: error TS${d.code}: ${text}\n    > ${file.lines[line]?.trim() ?? ''}`)
      }
    }
  }
  compiler.emit()
}

/** `tandem`, `npx tandem` and a refusing `npm` for shell blocks. */
function writeShims(): void {
  const bin = join(RUN_DIR, 'bin')
  mkdirSync(bin, { recursive: true })
  const shims: Record<string, string> = {
    tandem: [
      '#!/usr/bin/env bash',
      `if [ "$1" = watch ]; then exec "${process.execPath}" "${join(bin, 'watch-then-stop.mjs')}" "$@"; fi`,
      `exec "${process.execPath}" "${CLI}" "$@"`,
    ].join('\n'),
    npx: [
      '#!/usr/bin/env bash',
      'if [ "$1" = tandem ]; then shift; exec tandem "$@"; fi',
      'echo "docs check: \\"npx $*\\" is not run in a checked block; mark the block fragment" >&2',
      'exit 99',
    ].join('\n'),
    npm: [
      '#!/usr/bin/env bash',
      'echo "docs check: \\"npm $*\\" is not run in a checked block; mark the block fragment" >&2',
      'exit 99',
    ].join('\n'),
  }
  // `tandem watch` runs until Ctrl-C: once it has printed its banner (stderr), it gets SIGINT.
  writeFileSync(
    join(bin, 'watch-then-stop.mjs'),
    [
      "import { spawn } from 'node:child_process'",
      "import { constants } from 'node:os'",
      `const child = spawn(process.execPath, [${JSON.stringify(CLI)}, ...process.argv.slice(2)], { stdio: ['ignore', 'inherit', 'pipe'] })`,
      `let timer = setTimeout(() => child.kill('SIGINT'), ${WATCH_MAX_MS})`,
      "child.stderr.once('data', () => { clearTimeout(timer); timer = setTimeout(() => child.kill('SIGINT'), " +
        String(WATCH_AFTER_BANNER_MS) +
        ') })',
      "child.stderr.on('data', (chunk) => process.stderr.write(chunk))",
      "child.on('exit', (code, signal) => { clearTimeout(timer); process.exitCode = code ?? 128 + (signal === null ? 0 : constants.signals[signal]) })",
    ].join('\n'),
  )
  for (const [name, text] of Object.entries(shims)) {
    writeFileSync(join(bin, name), `${text}\n`)
    chmodSync(join(bin, name), 0o755)
  }
}

/** Finds out once whether the PostgreSQL server answers, if any block needs it. */
async function checkPostgres(): Promise<void> {
  const shellText = (b: DocBlock) => [...(b.setup?.lines ?? []), ...b.lines].join('\n')
  const needed =
    programs.some((p) => usesPostgres(programText(p))) || blocks.some((b) => kindOf(b) === 'shell' && usesPostgres(shellText(b)))
  if (!needed) return
  try {
    await pgAdmin((client) => client.query('SELECT 1'))
  } catch (error) {
    postgresMissing = error instanceof Error ? error.message : String(error)
  }
}

function programText(program: Program): string {
  return program.files.map((f) => f.lines.join('\n')).join('\n')
}

/** Removes the folders of earlier runs that were killed before they could clean up. */
function removeAbandonedRuns(): void {
  for (const name of existsSync(SCRATCH) ? readdirSync(SCRATCH) : []) {
    const pid = Number(/^run-(\d+)-/.exec(name)?.[1])
    if (Number.isInteger(pid) && pid !== process.pid && !isPidAlive(pid)) rmSync(join(SCRATCH, name), { recursive: true, force: true })
  }
}

beforeAll(async () => {
  if (!existsSync(CLI) || !existsSync(join(ROOT, 'dist/index.js')))
    throw new Error('The docs blocks import the built package: run npm run build first.')
  removeAbandonedRuns()
  mkdirSync(RUN_DIR, { recursive: true })
  writeShims()
  compilePrograms()
  await checkPostgres()
}, 180_000)

afterAll(async () => {
  for (const database of databases) {
    await pgAdmin((client) => client.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`)).catch((error: unknown) =>
      console.warn(`could not drop ${database}:`, error),
    )
  }
  if (process.env.DOCS_CHECK_KEEP === '1') return
  rmSync(RUN_DIR, { recursive: true, force: true })
  // The scratch folder goes too when no other run is using it (rmdir refuses a folder that is not empty).
  try {
    rmdirSync(SCRATCH)
  } catch {
    // another run's folder is in it
  }
}, 60_000)

describe('TypeScript and JavaScript blocks type-check and run', () => {
  for (const program of programs) {
    const where = program.blocks.map(label).join(' + ')
    it(
      where,
      async (ctx) => {
        const errors = diagnostics.get(program.id) ?? []
        if (errors.length > 0) expect.fail(`The block at ${where} does not type-check:\n${errors.join('\n')}`)
        const databaseUrl = await databaseFor(programText(program), (note) => ctx.skip(note))
        const cwd = programDir(program, 'out')
        const results = await Promise.all(
          entryFiles(program).map(async (file) => ({
            file,
            result: await runProcess(process.execPath, ['--enable-source-maps', outputName(file.name)], {
              cwd,
              env: blockEnv(databaseUrl),
              timeoutMs: RUN_TIMEOUT_MS,
            }),
          })),
        )
        const failed = results.filter(({ result }) => result.code !== 0)
        if (failed.length > 0) {
          const reports = failed.map(({ file, result }) => {
            const how = result.timedOut
              ? `did not exit within ${RUN_TIMEOUT_MS / 1000} s (a change feed or a store left open?)`
              : `exited with ${result.code ?? result.signal}`
            const name = program.files.length > 1 ? ` (${file.name})` : ''
            return `The block at ${where}${name} ${how}:\n${mapPaths(tail(result.stderr), program)}${result.stdout.trim() === '' ? '' : `\nstdout:\n${tail(result.stdout, 10)}`}`
          })
          expect.fail(reports.join('\n\n'))
        }
      },
      RUN_TIMEOUT_MS + 30_000,
    )
  }
})

describe('shell blocks run against a prepared project', () => {
  for (const block of blocks.filter((b) => kindOf(b) === 'shell')) {
    it(
      label(block),
      async (ctx) => {
        const script = [...(block.setup?.lines ?? []), ...block.lines]
        const databaseUrl = await databaseFor(script.join('\n'), (note) => ctx.skip(note))
        const origins: LineOrigin[] = [
          ...(block.setup?.lines ?? []).map((_, k) => ({ file: block.file, line: block.setup!.line + k, setup: true })),
          ...block.lines.map((_, k) => ({ file: block.file, line: block.line + 1 + k, setup: false })),
        ]
        const project = join(RUN_DIR, 'sh', `${slug(block.file)}-${block.line}`)
        await prepareProject(project)
        // Two header lines: the ERR trap names the failing line, shifted back by them.
        const header = ['set -eo pipefail', `trap 'echo "docs-check: line $((LINENO - 2)) failed with exit $?" >&2' ERR`]
        writeFileSync(join(project, '.block.sh'), `${[...header, ...script].join('\n')}\n`)
        const result = await runProcess('bash', ['.block.sh'], { cwd: project, env: blockEnv(databaseUrl), timeoutMs: RUN_TIMEOUT_MS })
        if (result.code !== 0) {
          const stderr = result.stderr.replace(
            /docs-check: line (\d+) failed/g,
            (_m, line: string) => `${describeOrigin(origins[Number(line) - 1])} failed`,
          )
          const how = result.timedOut ? `did not finish within ${RUN_TIMEOUT_MS / 1000} s` : `exited with ${result.code ?? result.signal}`
          expect.fail(
            `The shell block at ${label(block)} ${how}:\n${tail(stderr)}${result.stdout.trim() === '' ? '' : `\nstdout:\n${tail(result.stdout, 10)}`}`,
          )
        }
      },
      RUN_TIMEOUT_MS + 30_000,
    )
  }
})

describe('JSON blocks parse', () => {
  for (const block of blocks.filter((b) => kindOf(b) === 'json')) {
    it(label(block), () => {
      const text = block.lines.join('\n')
      try {
        JSON.parse(block.lang === 'jsonc' ? stripJsonComments(text) : text)
      } catch (error) {
        expect.fail(`The ${block.lang} block at ${label(block)} does not parse: ${error instanceof Error ? error.message : String(error)}`)
      }
    })
  }
})

describe('every other block is marked fragment on purpose', () => {
  for (const block of blocks.filter((b) => kindOf(b) === 'unchecked')) {
    it(label(block), () => {
      expect.fail(
        `The block at ${label(block)} (${block.lang === '' ? 'no language' : `"${block.lang}"`}) is neither checked nor marked as a fragment. ` +
          'Give it a language this test runs (ts, js, sh, python, json, jsonc), or mark it: ```text fragment for an output sample, ```ts fragment for an illustration.',
      )
    })
  }
  // Blocks marked `fragment` are skipped on purpose (install commands, output samples, sketches), listed so the report shows them.
  // why skipped: a fragment is not a program (see above); listed so the report counts them.
  for (const block of blocks.filter((b) => kindOf(b) === 'fragment')) it.skip(`${label(block)} (fragment)`, () => undefined) // why: a fragment is not a program
})
