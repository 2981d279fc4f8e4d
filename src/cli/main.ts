#!/usr/bin/env node
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { COMMANDS } from './commands.js'
import { EXIT, createContext, reportError, type Command, type OptionSpec } from './output.js'

const GLOBAL_OPTIONS = {
  json: { type: 'boolean', description: 'print results as one JSON document on stdout; logs go to stderr' },
  verbose: { type: 'boolean', description: 'print stack traces on failure' },
  help: { type: 'boolean', short: 'h', description: 'show help' },
} as const

const EXIT_CODES = `Exit codes: ${EXIT.ok} ok, ${EXIT.checkFailed} a check found a problem, ${EXIT.usage} bad usage, ${EXIT.failed} the operation failed.`

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length))
  return [
    'tandem: see, check and move a Tandem store shared by several processes.',
    '',
    'Usage: tandem <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    `  ${'help'.padEnd(width)}  Show help for a command: tandem help status`,
    '',
    'Options for every command: --json, --verbose, --help. tandem --version prints the version.',
    'Collections, roles and migrations come from tandem.config.ts|mts|mjs|js|json (found from the',
    'working directory up) or --config PATH; commands that only read work on any store file without one.',
    '',
    EXIT_CODES,
  ].join('\n')
}

function commandHelp(command: Command): string {
  const options: Record<string, OptionSpec> = { ...command.options, ...GLOBAL_OPTIONS }
  return [
    command.summary,
    '',
    `Usage: ${command.usage}`,
    '',
    'Options:',
    ...Object.entries(options).map(([name, o]) => `  --${name}${o.type === 'string' ? ' VALUE' : ''}`.padEnd(22) + o.description),
    '',
    'Examples:',
    ...command.examples.map((e) => `  ${e}`),
    '',
    EXIT_CODES,
  ].join('\n')
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h') {
    console.log(mainHelp())
    return EXIT.ok
  }
  if (name === '--version' || name === '-v') {
    console.log(version())
    return EXIT.ok
  }
  if (name === 'help') {
    const command = COMMANDS.find((c) => c.name === rest[0])
    console.log(command === undefined ? mainHelp() : commandHelp(command))
    return EXIT.ok
  }
  const command = COMMANDS.find((c) => c.name === name)
  if (command === undefined) {
    const json = rest.includes('--json')
    const message = `unknown command "${name}".`
    if (json) process.stdout.write(`${JSON.stringify({ error: { code: 'USAGE', message: `Unknown command "${name}".`, hint: 'tandem --help lists the commands.' } })}\n`)
    else process.stderr.write(`error USAGE: ${message}\ntry: tandem --help lists the commands.\n`)
    return EXIT.usage
  }
  const json = rest.includes('--json')
  try {
    const { values, positionals } = parseArgs({ args: rest, options: { ...command.options, ...GLOBAL_OPTIONS }, allowPositionals: true, strict: true })
    if (values.help === true) {
      console.log(commandHelp(command))
      return EXIT.ok
    }
    return await command.run(createContext(values, positionals))
  } catch (error) {
    return reportError(error, json, rest.includes('--verbose'))
  }
}

// A reader that goes away (tandem find ... | head) is not an error: stop quietly.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? EXIT.ok)
  throw error
})

process.exitCode = await main(process.argv.slice(2))
