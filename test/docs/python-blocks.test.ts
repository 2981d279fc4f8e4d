/**
 * The Python blocks of README.md and docs/*.md (```python), run by python3: each in a fresh copy of
 * the project shell blocks get (doc-project.ts: tandem.config.json, data/app.db with tasks and
 * jobs), with clients/python on PYTHONPATH. A block that mentions TANDEM_URL gets a
 * `tandem serve` of that project on a Unix socket, and in its environment TANDEM_URL
 * (`unix:/...`) and TANDEM_TOKEN, a token of role "server". A block must exit 0 within a minute.
 * Needs `npm run build` first (the server is the built CLI).
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createToken } from '../../src/server.js'
import { tempDir } from '../helpers/backends.js'
import { waitUntil } from '../helpers/processes.js'
import { docFiles, kindOf, label, parseBlocks } from './doc-blocks.js'
import { SHELL_PROJECT, prepareProject } from './doc-project.js'

const ROOT = join(import.meta.dirname, '../..')
const CLI = join(ROOT, 'dist/cli/main.js')
const RUN_TIMEOUT_MS = 60_000

const blocks = docFiles(ROOT)
  .flatMap((file) => parseBlocks(ROOT, file))
  .filter((b) => kindOf(b) === 'python')

function run(command: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv) {
  const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS)
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve(code)
    }),
  )
  return { child, exited, output: () => output }
}

describe('Python blocks run against a prepared project', () => {
  for (const block of blocks) {
    it(
      label(block),
      async () => {
        expect(existsSync(CLI), 'run npm run build first').toBe(true)
        const project = tempDir('tandem-docs-python-')
        await prepareProject(project)
        const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', PYTHONPATH: join(ROOT, 'clients/python') }
        const text = [...(block.setup?.lines ?? []), ...block.lines].join('\n')
        let server: ReturnType<typeof run> | undefined
        if (text.includes('TANDEM_URL')) {
          const socket = join(project, 'tandem.sock')
          env.TANDEM_TOKEN = createToken(join(project, `${SHELL_PROJECT.path}.tokens.json`), 'server').secret
          env.TANDEM_URL = `unix:${socket}`
          server = run(process.execPath, [CLI, 'serve', '--socket', socket], project, env)
          await waitUntil(() => {
            if (server!.child.exitCode !== null) throw new Error(`tandem serve exited:\n${server!.output()}`)
            return existsSync(socket)
          }, 'tandem serve to listen')
        }
        try {
          const python = run('python3', ['-c', text], project, env)
          const code = await python.exited
          if (code !== 0) expect.fail(`The Python block at ${label(block)} exited with ${code}:\n${python.output()}`)
        } finally {
          server?.child.kill('SIGTERM')
          await server?.exited
        }
      },
      RUN_TIMEOUT_MS + 30_000,
    )
  }
})
