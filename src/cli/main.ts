#!/usr/bin/env node
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { demo } from './commands/demo.js'
import { EXIT, createContext, reportError, type Command, type OptionSpec } from './output.js'

const COMMANDS: Command[] = [demo]
const GLOBAL_OPTIONS = {
  json: { type: 'boolean', description: 'print results as one JSON document on stdout; logs go to stderr' },
  verbose: { type: 'boolean', description: 'print stack traces on failure' },
  help: { type: 'boolean', short: 'h', description: 'show help' },
} as const

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
    `  ${'help'.padEnd(width)}  Show help for a command: tandem help demo`,
    '',
    'Options for every command: --json, --verbose, --help. tandem --version prints the version.',
    '',
    `Exit codes: ${EXIT.ok} ok, ${EXIT.checkFailed} a check found a problem, ${EXIT.usage} bad usage, ${EXIT.failed} the operation failed.`,
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
    process.stderr.write(`error USAGE: unknown command "${name}".\ntry: tandem --help lists the commands.\n`)
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

process.exitCode = await main(process.argv.slice(2))
