// One of the two processes of bench/files.mjs: from `at` (epoch ms) for `ms` milliseconds, does
// locked read-modify-writes of the JSON file {"n": …} the way `mode` says, then prints how many
// it completed: {"done": n}.
import { readFile, writeFile } from 'node:fs/promises'
import { JSONFile } from 'lowdb/node'
import { Low } from 'lowdb'
import lockfile from 'proper-lockfile'
import { updateJsonFile } from '../dist/fs.js'

const { mode, file, at, ms } = JSON.parse(process.argv[2])

const steps = {
  // Tandem: lock file with takeover, temp + fsync + rename + directory fsync.
  tandem: () => updateJsonFile(file, (v) => ({ n: (v?.n ?? 0) + 1 })),
  // The same without fsync (durability 'normal'): what lowdb does too, so this compares the locks.
  'tandem-normal': () => updateJsonFile(file, (v) => ({ n: (v?.n ?? 0) + 1 }), { durability: 'normal' }),
  // lowdb (steno's temp + rename, no fsync) under proper-lockfile (mkdir lock, mtime lease), retrying until it gets the lock.
  lowdb: async () => {
    const release = await lockfile.lock(file, { retries: { retries: 10_000, minTimeout: 1, maxTimeout: 20, factor: 1.5 }, stale: 10_000 })
    try {
      const db = new Low(new JSONFile(file), { n: 0 })
      await db.read()
      db.data.n++
      await db.write()
    } finally {
      await release()
    }
  },
  // The unsafe baseline: read, add one, writeFile in place; no lock, no fsync.
  raw: async () => {
    const v = JSON.parse(await readFile(file, 'utf8'))
    await writeFile(file, JSON.stringify({ n: v.n + 1 }))
  },
}
const step = steps[mode]
while (Date.now() < at) await new Promise((resolve) => setTimeout(resolve, 1))
const end = performance.now() + ms
let done = 0
let failed = 0
while (performance.now() < end) {
  try {
    await step()
    done++
  } catch {
    // raw: a read that met a half-written file; counted, the run goes on.
    failed++
  }
}
process.stdout.write(`${JSON.stringify({ done, failed })}\n`)
