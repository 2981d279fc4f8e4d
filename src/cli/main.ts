#!/usr/bin/env node
import { readFileSync } from 'node:fs'
import { COMMANDS } from './commands.js'
import { GLOBAL_OPTIONS } from './options.js'
import { EXIT, createContext, reportError, type Command, type OptionSpec } from './output.js'
import { parseCommandArgs } from './parse.js'
import { unknownName } from './suggest.js'

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
    'The store: a [store] argument or --store (a file or a postgres:// url), else $TANDEM_STORE, else',
    'the config. Collections, roles and migrations come from tandem.config.ts|mts|mjs|js|json (found',
    'from the working directory up) or --config PATH; commands that only read work without one.',
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

/** The command called `name`, or a usage error suggesting the nearest one. */
function findCommand(name: string): Command {
  const command = COMMANDS.find((c) => c.name === name)
  if (command !== undefined) return command
  throw unknownName({
    message: `Unknown command "${name}".`,
    given: name,
    known: [...COMMANDS.map((c) => c.name), 'help'],
    hint: 'tandem --help lists the commands.',
  })
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
  const json = rest.includes('--json')
  try {
    if (name === 'help') {
      console.log(rest[0] === undefined ? mainHelp() : commandHelp(findCommand(rest[0])))
      return EXIT.ok
    }
    const command = findCommand(name)
    const { values, positionals } = parseCommandArgs(command, rest)
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
