// Reads a JSON file as fast as it can until told to stop; counts reads and the ones that were not
// complete, valid JSON. Reports { type: 'done', reads, bad, firstBad }.
import { readFileSync } from 'node:fs'
import { command, failOnCrash, finish, report, workerArgs } from './channel.mjs'

failOnCrash()
const { file } = workerArgs()
let stop = false
void command('stop').then(() => (stop = true))
report({ type: 'ready' })
let reads = 0
let bad = 0
let firstBad
while (!stop) {
  for (let i = 0; i < 50; i++) {
    let text
    try {
      text = readFileSync(file, 'utf8')
    } catch (error) {
      if (error.code === 'ENOENT') continue // not created yet
      throw error
    }
    reads++
    try {
      JSON.parse(text)
    } catch {
      bad++
      firstBad ??= text.slice(0, 200)
    }
  }
  await new Promise((resolve) => setImmediate(resolve))
}
report({ type: 'done', reads, bad, firstBad })
finish()
