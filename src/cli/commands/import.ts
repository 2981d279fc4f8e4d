import { importStore, type ConflictPolicy, type ImportResult } from '../../lifecycle.js'
import { requireConfig } from '../config.js'
import { formatDuration, plural } from '../format.js'
import { openWritable, roleOption } from '../open.js'
import { AS_OPTION, TARGET_OPTIONS } from '../options.js'
import { describeTarget, resolveTarget } from '../target.js'
import { EXIT, type Command } from '../output.js'
import { withProgress } from '../progress.js'
import { choiceOption, positionals } from '../arguments.js'
import { renderTable } from '../table.js'

const POLICIES: readonly ConflictPolicy[] = ['fail', 'skip', 'overwrite', 'newer-version-wins']
const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kib: 1024, m: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gib: 1024 ** 3 }

/** --max-line-bytes: bytes, or with a binary unit (32MiB, 512KiB, 1G); undefined when not given. */
export function maxLineBytesOption(value: string | boolean | undefined): number | undefined {
  if (value === undefined) return undefined
  const match = typeof value === 'string' ? /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(value) : null
  const unit = match === null ? undefined : UNITS[match[2]!.toLowerCase()]
  if (match === null || unit === undefined)
    throw new TypeError(`--max-line-bytes must be a number of bytes, like 33554432 or 32MiB (got ${JSON.stringify(value)}).`)
  return Number(match[1]) * unit
}

/** The option, spelled and described once for export and import. */
export const MAX_LINE_BYTES_OPTION = {
  'max-line-bytes': {
    type: 'string',
    description:
      'the longest line (record) in bytes, e.g. 64MiB (default 16MiB; an import also takes the limit an export wrote in its header)',
  },
} as const

export const importCommand: Command = {
  name: 'import',
  summary: "Load an NDJSON export into the store, all or nothing, each record checked against the config's collections and schemas.",
  usage:
    'tandem import <file|-> [--on-conflict fail|skip|overwrite|newer-version-wins] [--dry-run] [--collection C,...] [--allow-undeclared] [--allow-schema-mismatch] [--max-line-bytes N] [--as ROLE] [--store STORE] [--schema S] [--config PATH] [--json]',
  options: {
    'on-conflict': { type: 'string', description: `what to do with an id that exists: ${POLICIES.join(', ')} (default fail)` },
    'dry-run': { type: 'boolean', description: 'check and count everything, then roll back: nothing is written' },
    collection: { type: 'string', description: 'only import these collections (comma-separated); the rest are counted as ignored' },
    'allow-undeclared': { type: 'boolean', description: 'also import collections the config does not declare (unvalidated)' },
    'allow-schema-mismatch': {
      type: 'boolean',
      description: "import an export made at another schema version than the store's (records are still validated)",
    },
    ...MAX_LINE_BYTES_OPTION,
    ...AS_OPTION,
    ...TARGET_OPTIONS,
  },
  examples: [
    'tandem import app.ndjson --dry-run',
    'tandem import app.ndjson --on-conflict skip',
    'tandem export old.db | tandem import - --on-conflict newer-version-wins',
  ],
  async run(ctx) {
    const [file] = positionals(ctx, ['file'])
    const onConflict = choiceOption(ctx.values['on-conflict'], '--on-conflict', POLICIES, 'fail')
    const dryRun = ctx.values['dry-run'] === true
    const collections =
      typeof ctx.values.collection === 'string'
        ? ctx.values.collection
            .split(',')
            .map((c) => c.trim())
            .filter(Boolean)
        : undefined
    const maxLineBytes = maxLineBytesOption(ctx.values['max-line-bytes'])
    const role = roleOption(ctx)
    const config = await requireConfig(ctx.values, 'import')
    const target = await resolveTarget(ctx, undefined)
    const store = await openWritable(target, config, role)
    let result: ImportResult
    try {
      result = await withProgress(ctx, `${dryRun ? 'checking' : 'importing'} ${file === '-' ? 'standard input' : file}`, () =>
        importStore(store, {
          from: file === '-' ? process.stdin : file!,
          onConflict,
          dryRun,
          ...(collections === undefined ? {} : { collections }),
          ...(ctx.values['allow-undeclared'] === true ? { allowUndeclared: true } : {}),
          ...(ctx.values['allow-schema-mismatch'] === true ? { allowSchemaMismatch: true } : {}),
          ...(maxLineBytes === undefined ? {} : { maxLineBytes }),
        }),
      )
    } finally {
      await store.close()
    }
    if (ctx.json) ctx.result({ store: describeTarget(target), onConflict, ...result })
    else {
      const rows = Object.entries(result.collections).map(([name, c]) => [
        name,
        String(c.inserted),
        String(c.overwritten),
        String(c.skipped),
      ])
      if (rows.length > 0)
        for (const line of renderTable(
          [
            'collection',
            { header: 'inserted', align: 'right' },
            { header: 'overwritten', align: 'right' },
            { header: 'skipped', align: 'right' },
          ],
          rows,
          ctx.paint,
        ))
          ctx.out(line)
      const { added, removed } = result.seeds
      if (added > 0 || removed > 0) {
        const parts = [
          ...(removed > 0 ? [`removed ${plural(removed, 'seeded record')} the export's store had deleted`] : []),
          ...(added > 0 ? [`recorded ${plural(added, 'seed')} as applied`] : []),
        ]
        ctx.out(`Seed history: ${parts.join('; ')}.`)
      }
      const what = `${plural(result.records, 'record')}${result.ignored > 0 ? ` (${result.ignored} ignored)` : ''} in ${formatDuration(result.durationMs)}`
      ctx.out(
        dryRun
          ? ctx.paint(`Dry run: ${what} checked; nothing was written. Run again without --dry-run to import.`, 'cyan')
          : `Imported ${what}.`,
      )
    }
    return EXIT.ok
  },
}
