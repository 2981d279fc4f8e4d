import { expect, test } from 'vitest'
import { runCli, runCliJson } from '../helpers/cli.js'

const COMMANDS = ['status', 'doctor', 'find', 'get', 'put', 'patch', 'delete', 'watch', 'inspect', 'migrate', 'demo']

test('tandem --help lists every command and the exit codes', () => {
  const help = runCli(['--help'])
  expect(help.status).toBe(0)
  for (const name of COMMANDS) expect(help.stdout).toMatch(new RegExp(`^  ${name}\\s+\\S`, 'm'))
  expect(help.stdout).toMatch(/Exit codes: 0 ok, 1 a check found a problem, 2 bad usage, 3 the operation failed\./)
})

test.each(COMMANDS)('tandem %s --help shows usage, options, examples and exit codes', (name) => {
  const help = runCli([name, '--help'])
  expect(help.status).toBe(0)
  expect(help.stdout).toMatch(new RegExp(`\\nUsage: tandem ${name}`))
  expect(help.stdout).toMatch(/\nOptions:\n[\s\S]*--json\s[\s\S]*--verbose\s[\s\S]*\nExamples:\n {2}tandem /)
  expect(help.stdout).toMatch(/\nExit codes: 0 ok/)
  expect(runCli(['help', name]).stdout).toBe(help.stdout)
})

test('failures print one line and a hint; --verbose adds the stack; --json puts the error document on stdout', () => {
  const plain = runCli(['get', 'tasks'])
  expect(plain.status).toBe(2)
  expect(plain.stdout).toBe('')
  expect(plain.stderr).toBe('error USAGE: Missing <id>.\ntry: Run "tandem help <command>" for the accepted options.\n')
  const verbose = runCli(['get', 'tasks', '--verbose'])
  expect(verbose.stderr).toMatch(/\n\s+at .+\n/)
  const json = runCliJson(['status', '--bogus'])
  expect(json.status).toBe(2)
  expect(json.result).toEqual({
    error: { code: 'USAGE', message: expect.stringMatching(/Unknown option '--bogus'/), hint: expect.any(String) },
  })
  expect(json.stderr).toBe('')
  const unknown = runCliJson(['frobnicate'])
  expect(unknown).toMatchObject({ status: 2, result: { error: { code: 'USAGE' } } })
})
