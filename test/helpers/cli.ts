import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { expect, onTestFinished } from 'vitest'

/** The built CLI: tests run it as users do (npm run build first). */
export const CLI = join(import.meta.dirname, '../../dist/cli/main.js')

export interface CliRun {
  status: number | null
  stdout: string
  stderr: string
}

/** Environment for CLI runs: no colours, whatever the caller's terminal. */
function cliEnv(env: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, NO_COLOR: '1', ...env }
}

/** Runs `tandem <args>` to completion. */
export function runCli(args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): CliRun {
  expect(existsSync(CLI), 'run npm run build first').toBe(true)
  const run = spawnSync(process.execPath, [CLI, ...args], {
    cwd: options.cwd,
    env: cliEnv(options.env),
    input: options.input,
    encoding: 'utf8',
    timeout: 30_000,
  })
  return { status: run.status, stdout: run.stdout, stderr: run.stderr }
}

/** Runs `tandem <args> --json` and parses stdout as one JSON document. */
export function runCliJson<T = Record<string, unknown>>(
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): { status: number | null; result: T; stderr: string } {
  const run = runCli([...args, '--json'], options)
  let result: T
  try {
    result = JSON.parse(run.stdout) as T
  } catch {
    throw new Error(
      `tandem ${args.join(' ')} --json printed no JSON document (exit ${run.status}).\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`,
    )
  }
  return { status: run.status, result, stderr: run.stderr }
}

/** No stack trace leaked: a person sees one line and a hint. */
export function expectNoStack(run: { stdout: string; stderr: string }): void {
  expect(`${run.stdout}\n${run.stderr}`).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m)
}

export interface CliProcess {
  child: ChildProcess
  stdout(): string
  stderr(): string
  /** Resolves when stdout or stderr (as chosen) matches. */
  waitFor(stream: 'stdout' | 'stderr', pattern: RegExp, timeoutMs?: number): Promise<void>
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** Starts a long-running `tandem <args>` (watch); killed with SIGKILL when the test ends if still running. */
export function startCli(args: readonly string[], options: { cwd?: string } = {}): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: options.cwd, env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
  const text = { stdout: '', stderr: '' }
  const listeners: (() => void)[] = []
  for (const name of ['stdout', 'stderr'] as const) {
    child[name].setEncoding('utf8')
    child[name].on('data', (chunk: string) => {
      text[name] += chunk
      for (const listener of [...listeners]) listener()
    })
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  )
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  })
  return {
    child,
    stdout: () => text.stdout,
    stderr: () => text.stderr,
    exited,
    waitFor(stream, pattern, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (pattern.test(text[stream])) {
            clearTimeout(timer)
            listeners.splice(listeners.indexOf(check), 1)
            resolve()
          }
        }
        const timer = setTimeout(
          () =>
            reject(
              new Error(
                `tandem ${args.join(' ')}: no ${pattern} on ${stream} within ${timeoutMs} ms.\nstdout:\n${text.stdout}\nstderr:\n${text.stderr}`,
              ),
            ),
          timeoutMs,
        )
        listeners.push(check)
        check()
      })
    },
  }
}
