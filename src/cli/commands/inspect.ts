import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { resolveConfig, requireConfig } from '../config.js'
import { integerOption, positionals } from '../arguments.js'
import { healthChecks } from '../inspect-health.js'
import { INSPECT_ROLE, openInspectable, openWritable } from '../open.js'
import { TARGET_OPTIONS } from '../options.js'
import { EXIT, type Command } from '../output.js'
import { describeTarget, resolveTarget } from '../target.js'
import { backupDirOf } from './doctor.js'

const ROLE = /^[A-Za-z0-9_.:-]{1,64}$/

/** Opens `url` in the desktop's browser; a failure only says so (the URL was printed). */
function openBrowser(url: string, note: (line: string) => void): void {
  const command = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open'
  try {
    const child = spawn(command, [url], { stdio: 'ignore', detached: true })
    child.once('error', () => note(`Could not start ${command}: open the URL above in a browser.`))
    child.unref()
  } catch {
    note(`Could not start ${command}: open the URL above in a browser.`)
  }
}

export const inspect: Command = {
  name: 'inspect',
  summary:
    'Open a web inspector of the store on 127.0.0.1: collections, records, the live change feed, processes and health; read-only unless --write --role R.',
  usage: 'tandem inspect [store] [--port N] [--open] [--write --role R] [--backup-dir DIR] [--schema S] [--config PATH] [--json]',
  options: {
    port: { type: 'string', description: 'TCP port on 127.0.0.1 (default: a free one)' },
    open: { type: 'boolean', description: "open the URL in the desktop's browser" },
    write: { type: 'boolean', description: 'allow editing records and running backups (needs --role and the config)' },
    role: { type: 'string', description: "with --write: the role edits act as; the collection's writers must include it" },
    'backup-dir': {
      type: 'string',
      description: "where the backup button writes (default: the config's backup.dir, else backups/ beside the store file)",
    },
    ...TARGET_OPTIONS,
  },
  examples: [
    'tandem inspect data/app.db',
    'tandem inspect --open',
    'tandem inspect data/app.db --write --role admin',
    'tandem inspect postgres://app@db:5432/app --schema app --port 7071',
  ],
  async run(ctx) {
    const [argument] = positionals(ctx, [], ['store'])
    const port = integerOption(ctx.values.port, '--port', 65535)
    const write = ctx.values.write === true
    const role = ctx.values.role
    if (write && typeof role !== 'string')
      throw new TypeError('--write needs --role R: the role edits act as (ownership and schemas apply to it).')
    if (!write && role !== undefined) throw new TypeError('--role is for --write: a read-only inspector writes nothing.')
    if (typeof role === 'string' && !ROLE.test(role))
      throw new TypeError(`--role must be a role name: 1 to 64 letters, digits or _ . : - (got ${JSON.stringify(role)}).`)
    const config = write ? await requireConfig(ctx.values, 'inspect --write') : await resolveConfig(ctx.values)
    const target = await resolveTarget(ctx, argument)
    // Scheduled backups stay with the process the config gives them to: an inspector runs none.
    const ownConfig = config === undefined ? undefined : { ...config, store: { ...config.store, backup: undefined } }
    const store =
      write && ownConfig !== undefined
        ? await openWritable(target, ownConfig, INSPECT_ROLE, true)
        : await openInspectable(target, ownConfig)
    try {
      const backupDir =
        backupDirOf(ctx.values['backup-dir'], config) ?? (target.kind === 'file' ? join(dirname(target.file), 'backups') : undefined)
      // Loaded here, not at the top: the other commands never pay for Fastify's import.
      const { inspectStore } = await import('../../inspector/inspect-store.js')
      const inspector = await inspectStore(store, {
        label: describeTarget(target),
        ...(port === undefined ? {} : { port }),
        ...(write && typeof role === 'string' ? { writeRole: role } : {}),
        health: healthChecks(target, store, backupDir),
        ...(backupDir === undefined ? {} : { backupDir }),
      })
      // The one place the token appears: the URL, printed once.
      if (ctx.json) ctx.result({ url: inspector.url, port: inspector.port, pid: process.pid, mode: write ? 'write' : 'read-only' })
      else ctx.out(inspector.url)
      ctx.note(
        `Inspecting ${describeTarget(target)} ${write ? `(write mode: edits act as role "${String(role)}")` : '(read-only)'} on 127.0.0.1:${inspector.port}; open the URL printed above. Ctrl-C stops.`,
      )
      if (ctx.values.open === true) openBrowser(inspector.url, ctx.note)
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve)
        process.once('SIGTERM', resolve)
      })
      ctx.note('Stopping the inspector.')
      await inspector.close()
    } finally {
      await store.close()
    }
    return EXIT.ok
  },
}
