import { join } from 'node:path'
import { FILES_STATE_NAME } from '../../backends/files/files-layout.js'
import { statSync } from 'node:fs'
import type { MigrationOutcome } from '../../index.js'
import { requireConfig } from '../config.js'
import { plural } from '../format.js'
import { openMigrating, openReadable, roleOption } from '../open.js'
import { AS_OPTION, TARGET_OPTIONS } from '../options.js'
import { describeTarget, resolveTarget } from '../target.js'
import { EXIT, type Command, type CommandContext } from '../output.js'
import { positionals } from '../arguments.js'
import { postgresStoreExists } from '../postgres-store.js'
import { renderTable, type Cell } from '../table.js'

/** One migration in `tandem migrate --json`: its outcome, or with --dry-run what would happen. */
export interface MigrationLine {
  version: number
  name: string
  status: MigrationOutcome['status'] | 'pending' | 'not-pending'
}

const STATUS_STYLE = { applied: 'green', pending: 'cyan', 'checksum-changed': 'yellow' } as const

function printLines(ctx: CommandContext, lines: readonly MigrationLine[]): void {
  const rows = lines.map((l): Cell[] => [
    String(l.version),
    l.name,
    { text: l.status, style: STATUS_STYLE[l.status as keyof typeof STATUS_STYLE] ?? 'dim' },
  ])
  for (const line of renderTable([{ header: 'version', align: 'right' }, 'name', 'status'], rows, ctx.paint)) ctx.out(line)
}

export const migrate: Command = {
  name: 'migrate',
  summary: "Apply the config's migrations the store has not run (each once, across processes); --dry-run lists them without applying.",
  usage: 'tandem migrate [store] [--dry-run] [--as ROLE] [--schema S] [--config PATH] [--json]',
  options: {
    'dry-run': { type: 'boolean', description: "list the migrations above the store's schema version, apply nothing" },
    ...AS_OPTION,
    ...TARGET_OPTIONS,
  },
  examples: ['tandem migrate --dry-run', 'tandem migrate', 'tandem migrate data/staging.db --config deploy/tandem.config.ts --json'],
  async run(ctx) {
    const [argument] = positionals(ctx, [], ['store'])
    const role = roleOption(ctx)
    const config = await requireConfig(ctx.values, 'migrate')
    const target = await resolveTarget(ctx, argument)
    const migrations = config.store.migrations ?? []
    const knownVersion = migrations.at(-1)?.version ?? 0
    // A server that cannot be asked counts as existing: opening it then reports why.
    const exists =
      target.kind === 'url'
        ? (await postgresStoreExists(target)) !== false
        : statSync(target.kind === 'files' ? join(target.dir, FILES_STATE_NAME) : target.file, { throwIfNoEntry: false }) !== undefined

    if (ctx.values['dry-run'] === true) {
      let storeVersion = 0
      if (exists) {
        const store = await openReadable(target)
        // The same number describe() reports as schemaVersion: the highest version applied.
        storeVersion = store.migrations.storeVersion
        await store.close()
      }
      const lines: MigrationLine[] = migrations.map((m) => ({
        version: m.version,
        name: m.name,
        status: m.version > storeVersion ? 'pending' : 'not-pending',
      }))
      const pending = lines.filter((l) => l.status === 'pending').length
      if (ctx.json) ctx.result({ store: describeTarget(target), dryRun: true, exists, storeVersion, knownVersion, migrations: lines })
      else {
        ctx.out(
          `${describeTarget(target)}${exists ? '' : ' (does not exist yet: migrate creates it)'} is at schema version ${storeVersion}; the config knows ${knownVersion}.`,
        )
        if (lines.length > 0) printLines(ctx, lines)
        ctx.out(pending === 0 ? 'Nothing to apply.' : `${plural(pending, 'migration')} would be applied by "tandem migrate".`)
        if (storeVersion > knownVersion)
          ctx.out(ctx.paint('The store is newer than this config: programs using it open the store read-only (or refuse to).', 'yellow'))
      }
      return EXIT.ok
    }

    const store = await openMigrating(target, config, role)
    const report = store.migrations
    await store.close()
    const changed = report.outcomes.filter((o) => o.status === 'checksum-changed')
    if (ctx.json)
      ctx.result({
        store: describeTarget(target),
        dryRun: false,
        created: !exists,
        storeVersion: report.storeVersion,
        knownVersion: report.knownVersion,
        migrations: report.outcomes,
      })
    else {
      if (!exists) ctx.out(`Created ${describeTarget(target)}.`)
      if (report.outcomes.length > 0) printLines(ctx, report.outcomes)
      const applied = report.outcomes.filter((o) => o.status === 'applied').length
      ctx.out(
        `${applied === 0 ? 'Nothing to apply' : `Applied ${plural(applied, 'migration')}`}; the store is at schema version ${report.storeVersion}.`,
      )
    }
    if (changed.length > 0) {
      ctx.note(
        `warning: ${changed.map((o) => `migration ${o.version} "${o.name}"`).join(', ')} changed since ${changed.length === 1 ? 'it was' : 'they were'} applied; not run again. Check that the change was intended.`,
      )
    }
    return EXIT.ok
  },
}
