import { importStore, type ConflictPolicy, type ImportResult } from '../../index.js'
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

export const importCommand: Command = {
  name: 'import',
  summary: "Load an NDJSON export into the store, all or nothing, each record checked against the config's collections and schemas.",
  usage: 'tandem import <file|-> [--on-conflict fail|skip|overwrite|newer-version-wins] [--dry-run] [--collection C,...] [--allow-undeclared] [--as ROLE] [--store STORE] [--schema S] [--config PATH] [--json]',
  options: {
    'on-conflict': { type: 'string', description: `what to do with an id that exists: ${POLICIES.join(', ')} (default fail)` },
    'dry-run': { type: 'boolean', description: 'check and count everything, then roll back: nothing is written' },
    collection: { type: 'string', description: 'only import these collections (comma-separated); the rest are counted as ignored' },
    'allow-undeclared': { type: 'boolean', description: 'also import collections the config does not declare (unvalidated)' },
    ...AS_OPTION,
    ...TARGET_OPTIONS,
  },
  examples: ['tandem import app.ndjson --dry-run', 'tandem import app.ndjson --on-conflict skip', 'tandem export old.db | tandem import - --on-conflict newer-version-wins'],
  async run(ctx) {
    const [file] = positionals(ctx, ['file'])
    const onConflict = choiceOption(ctx.values['on-conflict'], '--on-conflict', POLICIES, 'fail')
    const dryRun = ctx.values['dry-run'] === true
    const collections = typeof ctx.values.collection === 'string' ? ctx.values.collection.split(',').map((c) => c.trim()).filter(Boolean) : undefined
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
        }),
      )
    } finally {
      await store.close()
    }
    if (ctx.json) ctx.result({ store: describeTarget(target), onConflict, ...result })
    else {
      const rows = Object.entries(result.collections).map(([name, c]) => [name, String(c.inserted), String(c.overwritten), String(c.skipped)])
      if (rows.length > 0) for (const line of renderTable(['collection', { header: 'inserted', align: 'right' }, { header: 'overwritten', align: 'right' }, { header: 'skipped', align: 'right' }], rows, ctx.paint)) ctx.out(line)
      const what = `${plural(result.records, 'record')}${result.ignored > 0 ? ` (${result.ignored} ignored)` : ''} in ${formatDuration(result.durationMs)}`
      ctx.out(dryRun ? ctx.paint(`Dry run: ${what} checked; nothing was written. Run again without --dry-run to import.`, 'cyan') : `Imported ${what}.`)
    }
    return EXIT.ok
  },
}
