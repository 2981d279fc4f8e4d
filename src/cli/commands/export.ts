import { exportStore, type ExportResult } from '../../lifecycle.js'
import { formatBytes, formatDuration, plural } from '../format.js'
import { openReadable, requireCollection } from '../open.js'
import { TARGET_OPTIONS } from '../options.js'
import { describeTarget, resolveTarget } from '../target.js'
import { CliError, EXIT, type Command } from '../output.js'
import { withProgress } from '../progress.js'
import { positionals } from '../arguments.js'
import { MAX_LINE_BYTES_OPTION, maxLineBytesOption } from './import.js'

export const exportCommand: Command = {
  name: 'export',
  summary: 'Write every record (or some collections) as NDJSON, from one consistent snapshot, while other processes keep writing.',
  usage: 'tandem export [store] [--out FILE] [--collection C[,C...]] [--max-line-bytes N] [--schema S] [--config PATH] [--json]',
  options: {
    out: { type: 'string', description: 'the file to write (it appears only when complete); default: standard output' },
    collection: { type: 'string', description: 'only these collections (comma-separated), in this order' },
    ...MAX_LINE_BYTES_OPTION,
    ...TARGET_OPTIONS,
  },
  examples: [
    'tandem export data/app.db --out backups/app.ndjson',
    'tandem export --collection tasks > tasks.ndjson',
    'tandem export --out app.ndjson --json',
  ],
  async run(ctx) {
    const [argument] = positionals(ctx, [], ['store'])
    const out = typeof ctx.values.out === 'string' ? ctx.values.out : undefined
    if (out === undefined && ctx.json) throw new TypeError('--json needs --out FILE: without it standard output carries the export itself.')
    const collections =
      typeof ctx.values.collection === 'string'
        ? ctx.values.collection
            .split(',')
            .map((c) => c.trim())
            .filter(Boolean)
        : undefined
    const maxLineBytes = maxLineBytesOption(ctx.values['max-line-bytes'])
    const target = await resolveTarget(ctx, argument)
    const store = await openReadable(target)
    let result: ExportResult
    try {
      for (const name of collections ?? []) await requireCollection(store, name)
      result = await withProgress(ctx, `exporting ${describeTarget(target)}`, () =>
        exportStore(store, {
          to: out ?? process.stdout,
          ...(collections === undefined ? {} : { collections }),
          ...(maxLineBytes === undefined ? {} : { maxLineBytes }),
        }),
      )
    } catch (error) {
      if (error instanceof Error && /EPIPE/.test(error.message))
        throw new CliError('EPIPE', 'The reader of standard output went away before the export finished.', 'Write to a file with --out.')
      throw error
    } finally {
      await store.close()
    }
    const summary = `Exported ${plural(result.records, 'record')} (${
      Object.entries(result.collections)
        .map(([c, n]) => `${c} ${n}`)
        .join(', ') || 'no collections'
    }), ${formatBytes(result.bytes)} in ${formatDuration(result.durationMs)}${result.snapshot ? ', one consistent snapshot' : ''}${result.path === undefined ? '' : ` to ${result.path}`}.`
    if (ctx.json) ctx.result({ store: describeTarget(target), ...result })
    else if (out === undefined)
      ctx.note(summary) // standard output is the export
    else ctx.out(summary)
    return EXIT.ok
  },
}
