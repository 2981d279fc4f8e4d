import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { expect, test } from 'vitest'

// Each folder of examples/ is a program a user runs to see Tandem solve one real problem; it
// checks its own claims and exits 0 only when they hold, printing an "OK: ..." verdict. Here they
// type-check as a strict user project, then each runs as a user runs it, with no fixed time but
// a generous ceiling for a loaded 2-core machine. They import 'tandemdb': npm run build first.

const ROOT = join(import.meta.dirname, '../..')
const TIMEOUT_MS = 120_000

const EXAMPLES = [
  {
    name: 'daemon-and-server',
    verdict:
      /^OK: \d+ writes from 2 processes at the same time, none lost; each role's write to the other's collection refused with NOT_OWNER$/m,
  },
  {
    name: 'feed-instead-of-polling',
    verdict:
      /^OK: \d+ tasks through API, store and daemon with the change feed instead of polling; a kill -9 lost and repeated nothing; backups and doctor ok$/m,
  },
  {
    name: 'typed-runtime-store',
    verdict: /^OK: 12 typed collections; 2 migrations once; retention archived \d+ records; seeds, pagination and export\/import checked$/m,
  },
  {
    name: 'record-files',
    verdict: /^OK: \d+ tasks through a CLI, 2 drivers and a dashboard on 3 record files; each done once; a hand edit announced$/m,
  },
  {
    name: 'python-sessions',
    verdict:
      /^OK: \d+ sessions from a Python daemon through tandem serve; the Node server and the Python dashboard heard each once, in order; foreign writes refused with NOT_OWNER$/m,
  },
  {
    name: 'editor-and-timer',
    verdict: /^OK: \d+ writes of one record from 2 processes at the same time; no write ever touched the other's fields$/m,
  },
]

interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  output: string
  durationMs: number
}

/** Runs a command from the repository root to its end (killed at the timeout), stdout and stderr together. */
function run(args: readonly string[]): Promise<Run> {
  const started = performance.now()
  // Without EXAMPLE_DATA_DIR each example works in a temp folder and removes it.
  const { EXAMPLE_DATA_DIR: _kept, ...env } = process.env
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS - 5_000)
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, output, durationMs: Math.round(performance.now() - started) })
    })
  })
}

test(
  'the examples type-check as a strict TypeScript project',
  async () => {
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
    const result = await run([tsc, '-p', 'examples/tsconfig.json'])
    expect(result.output).toBe('')
    expect(result.code).toBe(0)
  },
  TIMEOUT_MS,
)

for (const { name, verdict } of EXAMPLES) {
  test(
    `examples/${name} runs by itself to its OK verdict`,
    async () => {
      const result = await run(['--import', 'jiti/register', join('examples', name, 'main.ts')])
      console.log(`examples/${name}: exit ${result.code ?? result.signal} in ${result.durationMs} ms`)
      expect(result.code, result.output).toBe(0)
      expect(result.output).toMatch(verdict)
      expect(result.output).not.toMatch(/^\s*FAIL/m)
    },
    TIMEOUT_MS,
  )
}
