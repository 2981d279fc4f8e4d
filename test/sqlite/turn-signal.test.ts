import { statSync } from 'node:fs'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { TurnSignal } from '../../src/backends/sqlite/sqlite-locks.js'
import { tempDir } from '../helpers/backends.js'

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

// Two TurnSignals on one path stand for two processes: the side file is all they share.
test('a holder lets a waiter in once per announcement, and never for its own', async () => {
  const db = join(tempDir(), 'store.db')
  const holder = new TurnSignal(db)
  const waiter = new TurnSignal(db)
  try {
    expect(holder.shouldYield()).toBe(false) // nobody has announced anything: no file yet

    waiter.waiting()
    expect(statSync(`${db}-turns`).mode & 0o777).toBe(0o600)
    await pause(2)
    expect(holder.shouldYield()).toBe(true)
    expect(holder.shouldYield()).toBe(false) // that announcement was answered

    // A waiter that keeps waiting keeps announcing (at most every millisecond).
    await pause(2)
    waiter.waiting()
    await pause(3)
    expect(holder.shouldYield()).toBe(true)

    // Its own announcement (made while it waited) does not make a process yield to itself.
    await pause(2)
    holder.waiting()
    holder.acquired()
    await pause(3)
    expect(holder.shouldYield()).toBe(false)
  } finally {
    holder.close()
    waiter.close()
  }
})
