import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { openStore } from '../../src/index.js'
import { tempDir } from '../helpers/backends.js'
import { expectNoStack, runCli, runCliJson } from '../helpers/cli.js'

test('a misspelt command gets "did you mean", in --help lookups too', () => {
  const run = runCli(['stauts'])
  expect(run.status).toBe(2)
  expect(run.stderr).toBe('error USAGE: Unknown command "stauts". Did you mean "status"?\ntry: tandem --help lists the commands.\n')
  expect(runCliJson(['doctr']).result).toEqual({
    error: { code: 'USAGE', message: 'Unknown command "doctr". Did you mean "doctor"?', hint: expect.any(String) },
  })
  expect(runCli(['help', 'wach']).stderr).toMatch(/^error USAGE: Unknown command "wach"\. Did you mean "watch"\?/)
  // Nothing near: no guess.
  expect(runCli(['frobnicate']).stderr).toMatch(/^error USAGE: Unknown command "frobnicate"\.\n/)
})

test('an unknown option names the command and suggests its nearest option, one line, no stack', () => {
  const run = runCli(['find', 'tasks', '--limt', '3'])
  expect(run.status).toBe(2)
  expect(run.stderr).toMatch(
    /^error USAGE: Unknown option '--limt' for tandem find\. Did you mean --limit\?\ntry: "tandem help find" lists its options/,
  )
  expectNoStack(run)
  expect(runCliJson(['backup', '--outt', 'x.db']).result).toMatchObject({
    error: { code: 'USAGE', message: "Unknown option '--outt' for tandem backup. Did you mean --out?" },
  })
  expect(runCliJson(['status', '--stor', 'x.db']).result).toMatchObject({
    error: { message: expect.stringMatching(/Did you mean --store\?$/) },
  })
  expect(runCliJson(['doctor', '--fixx']).result).toMatchObject({ error: { message: expect.stringMatching(/Did you mean --fix\?$/) } })
  expect(runCliJson(['status', '--zzzzzz']).result).toMatchObject({ error: { message: "Unknown option '--zzzzzz' for tandem status." } })
})

test('an unknown collection gets "did you mean", in commands that read and in those that write', async () => {
  const dir = tempDir()
  const collections = { tasks: { writers: ['cli'] }, jobs: { writers: ['cli'] } }
  const store = await openStore({ path: join(dir, 'app.db'), role: 'cli', collections })
  await store.close()
  writeFileSync(join(dir, 'tandem.config.json'), JSON.stringify({ path: 'app.db', collections }))

  const read = runCliJson(['find', 'taks'], { cwd: dir })
  expect(read).toMatchObject({
    status: 3,
    result: {
      error: { code: 'UNKNOWN_COLLECTION', message: expect.stringMatching(/no collection "taks"\. It has: .*\. Did you mean "tasks"\?$/) },
    },
  })
  expect(runCliJson(['get', 'jbos', 'x'], { cwd: dir }).result).toMatchObject({
    error: { message: expect.stringMatching(/Did you mean "jobs"\?$/) },
  })
  expect(runCliJson(['watch', '--collection', 'tasks,jbo'], { cwd: dir }).result).toMatchObject({
    error: { code: 'UNKNOWN_COLLECTION', message: expect.stringMatching(/Did you mean "jobs"\?$/) },
  })
  expect(runCliJson(['export', '--collection', 'taks', '--out', join(dir, 'x.ndjson')], { cwd: dir }).result).toMatchObject({
    error: { code: 'UNKNOWN_COLLECTION', message: expect.stringMatching(/Did you mean "tasks"\?$/) },
  })
  const write = runCliJson(['put', 'taks', '--data', '{}'], { cwd: dir })
  expect(write).toMatchObject({
    status: 3,
    result: {
      error: {
        code: 'UNKNOWN_COLLECTION',
        message: expect.stringMatching(/declares no collection "taks"\. It declares: tasks, jobs\. Did you mean "tasks"\?$/),
      },
    },
  })
})

test('an option value out of a fixed list gets "did you mean"', () => {
  const run = runCliJson(['import', 'x.ndjson', '--on-conflict', 'overwrit'])
  expect(run).toMatchObject({
    status: 2,
    result: {
      error: {
        code: 'USAGE',
        message: expect.stringMatching(
          /^--on-conflict must be one of fail, skip, overwrite, newer-version-wins \(got "overwrit"\)\. Did you mean "overwrite"\?$/,
        ),
      },
    },
  })
})
