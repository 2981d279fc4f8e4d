// What every worker shares: its arguments, reports to the parent, commands from it.
import { writeSync } from 'node:fs'

/** The JSON object the parent passed as the only argument. */
export function workerArgs() {
  return JSON.parse(process.argv[2] ?? '{}')
}

/**
 * Sends one message to the parent as a JSON line on stdout. The write is synchronous: when this
 * returns the line is in the pipe, so it reaches the parent even if we are SIGKILLed right after.
 */
export function report(message) {
  const bytes = Buffer.from(`${JSON.stringify(message)}\n`)
  let offset = 0
  while (offset < bytes.length) {
    try {
      offset += writeSync(1, bytes, offset)
    } catch (error) {
      if (error.code !== 'EAGAIN') throw error
    }
  }
}

const inbox = []
const waiting = []
process.on('message', (message) => {
  const i = waiting.findIndex((w) => w.type === message.type)
  if (i >= 0) waiting.splice(i, 1)[0].resolve(message)
  else inbox.push(message)
})

/** The next command of this type from the parent (already received or still to come). */
export function command(type) {
  const i = inbox.findIndex((m) => m.type === type)
  if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0])
  return new Promise((resolve) => waiting.push({ type, resolve }))
}

/** The error as plain JSON: code and message are all the parent needs. */
export function describeError(error) {
  return { name: error?.name, code: error?.code, message: String(error?.message ?? error) }
}

/** Reports an unexpected failure and exits non-zero, so the parent sees it instead of hanging. */
export function failOnCrash() {
  const crash = (error) => {
    report({ type: 'crash', error: describeError(error), stack: String(error?.stack ?? '') })
    process.exit(70)
  }
  process.on('uncaughtException', crash)
  process.on('unhandledRejection', crash)
}

/** Ends the worker once its last report is out (they are written synchronously). */
export function finish() {
  process.exit(0)
}
