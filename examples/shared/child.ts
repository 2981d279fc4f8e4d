// The child side of examples/shared/processes.ts: talk to the main process over the IPC channel
// that fork() opens.
import type { Message } from './processes.ts'

/** Sends one message to the main process; resolves once it is handed to the channel. */
export function send<M extends Message>(message: M): Promise<void> {
  const channel = process.send?.bind(process)
  if (channel === undefined) throw new Error('This file is a child process of the example: run main.ts, which starts it.')
  return new Promise((resolve, reject) => channel(message, undefined, undefined, (error) => (error === null ? resolve() : reject(error))))
}

/** Resolves with the next message of this type from the main process. */
export function receive<M extends Message>(type: M['type']): Promise<M> {
  return new Promise((resolve) => {
    const listener = (message: M) => {
      if (message.type !== type) return
      process.off('message', listener)
      resolve(message)
    }
    process.on('message', listener)
  })
}

/**
 * Closes the channel to the main process, so this one exits by itself once its own work (the
 * store included) is closed: an open handle left behind would show up as a child that never ends.
 */
export function disconnect(): void {
  process.off('disconnect', orphaned)
  process.disconnect()
}

// A child whose main process died has nobody to report to: it stops rather than linger.
const orphaned = () => process.exit(1)
process.on('disconnect', orphaned)
