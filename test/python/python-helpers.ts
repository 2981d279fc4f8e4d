import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { onTestFinished } from 'vitest'
import { STALL_MS, noteProgress, waitUntil } from '../helpers/processes.js'

/** A python3 child that prints one JSON object per line: its messages, its end, its stderr. */
export interface PythonRun {
  readonly pid: number
  readonly messages: { type: string; [field: string]: unknown }[]
  /** Settles once it exited and its stdout is read: code and signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  readonly running: boolean
  stderr(): string
  /** Waits for a message of this type (or matching), failing if the child exits first or all stalls. */
  waitFor(match: string | ((m: { type: string; [field: string]: unknown }) => boolean)): Promise<{ type: string; [field: string]: unknown }>
  kill(signal?: NodeJS.Signals): void
}

/** Absolute path of a file of the repository, from this folder. */
export function repoFile(path: string): string {
  return fileURLToPath(new URL(`../../${path}`, import.meta.url))
}

/**
 * Runs `python3 <script> ...args`. Every JSON line it prints counts as progress for the stall
 * watch (test/helpers/processes.ts); other lines are kept with stderr. Killed when the test ends.
 */
export function runPython(script: string, args: readonly string[], env: Record<string, string> = {}): PythonRun {
  const child = spawn('python3', ['-u', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
  const messages: PythonRun['messages'] = []
  let err = ''
  let partial = ''
  let running = true
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n')
    partial = lines.pop()!
    for (const line of lines) {
      if (line.startsWith('{')) {
        messages.push(JSON.parse(line) as PythonRun['messages'][number])
        noteProgress()
      } else if (line !== '') err += `${line}\n`
    }
  })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => {
      running = false
      resolve({ code, signal })
    }),
  )
  onTestFinished(async () => {
    if (running) child.kill('SIGKILL')
    await exited
  })
  const run: PythonRun = {
    pid: child.pid!,
    messages,
    exited,
    get running() {
      return running
    },
    stderr: () => err,
    async waitFor(match) {
      const test = typeof match === 'string' ? (m: { type: string }) => m.type === match : match
      await waitUntil(
        () => {
          if (messages.some(test)) return true
          if (!running) throw new Error(`python3 ${script} exited before sending ${String(match)}:\n${err}`)
          return false
        },
        `python3 ${script} to send ${typeof match === 'string' ? match : 'a matching message'}`,
        { stallMs: STALL_MS, progress: () => messages.length },
      )
      return messages.find(test)!
    },
    kill(signal = 'SIGKILL') {
      if (running) child.kill(signal)
    },
  }
  return run
}

/** Runs a python3 script to its end and returns its messages; fails with its stderr unless it exits 0. */
export async function pythonOk(script: string, args: readonly string[]): Promise<PythonRun['messages']> {
  const run = runPython(script, args)
  const { code, signal } = await run.exited
  if (code !== 0) throw new Error(`python3 ${script} ${args[0] ?? ''} ended with ${code ?? signal}:\n${run.stderr()}`)
  return run.messages
}
