#!/usr/bin/env node
// The long fault sweep of tandemdb/fs (npm run torture:files): rounds of processes incrementing one
// counter file with updateJsonFile while random ones are SIGKILLed inside and outside the lock,
// then restarted; each increment is named and logged in the file, so the check is exact: every
// increment applied once, none lost, none twice, and whatever the killed writers left (temp files,
// locks) recognised as dead by the start-up clean-up, which leaves the folder clean.
//
//   node torture/files.mjs [--rounds 20] [--procs 4] [--count 200] [--kills 40]
//
// Exit codes: 0 every round exact, 1 an anomaly (the folder is kept and named).
import { fork } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { cleanUpLeftovers } from '../dist/fs.js'

const WORKER = fileURLToPath(new URL('../test/workers/file-updater.mjs', import.meta.url))
const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '20' },
    procs: { type: 'string', default: '4' },
    count: { type: 'string', default: '200' },
    kills: { type: 'string', default: '40' },
  },
})
const [rounds, procs, count, maxKills] = [values.rounds, values.procs, values.count, values.kills].map(Number)

function runRound(dir) {
  const file = join(dir, 'counter.json')
  let kills = 0
  const start = (tag) =>
    new Promise((resolve, reject) => {
      const child = fork(WORKER, [JSON.stringify({ file, count, tag, holdMs: 3 })], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] })
      child.stdout.setEncoding('utf8').on('data', (chunk) => {
        if (kills < maxKills && chunk.includes('"holding"') && Math.random() < 0.05) {
          kills++
          setTimeout(() => child.kill('SIGKILL'), Math.random() * 8)
        }
      })
      child.on('close', (code, signal) => {
        if (signal === 'SIGKILL') resolve(start(tag))
        else if (code === 0) resolve()
        else reject(new Error(`worker ${tag} exited with code ${code}`))
      })
    })
  return Promise.all(Array.from({ length: procs }, (_, p) => start(`p${p}`))).then(async () => {
    // What killed writers left (temp files, maybe a lock) must all be recognised as dead and go.
    await cleanUpLeftovers(dir)
    const state = JSON.parse(readFileSync(file, 'utf8'))
    const expected = procs * count
    const problems = []
    if (new Set(state.applied).size !== state.applied.length) problems.push('an increment applied twice')
    if (state.n !== state.applied.length) problems.push(`n ${state.n} but ${state.applied.length} logged`)
    if (state.applied.length !== expected) problems.push(`${state.applied.length} increments, expected ${expected}`)
    const left = readdirSync(dir).filter((name) => name !== 'counter.json')
    if (left.length > 0) problems.push(`left behind: ${left.join(', ')}`)
    return { kills, problems }
  })
}

for (let round = 1; round <= rounds; round++) {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-torture-files-'))
  const { kills, problems } = await runRound(dir)
  console.log(
    `round ${round}/${rounds}: ${procs} processes x ${count} increments, ${kills} SIGKILLs: ${problems.length === 0 ? 'exact' : problems.join('; ')}`,
  )
  if (problems.length > 0) {
    console.log(`FAIL: kept ${dir}`)
    process.exit(1)
  }
  rmSync(dir, { recursive: true, force: true })
}
console.log(`OK: ${rounds} rounds exact`)
