import { backupStore, type BackupResult } from '../../index.js'
import { formatBytes, formatDuration } from '../format.js'
import { describeTarget, openReadable, resolveTarget } from '../open.js'
import { CONFIG_OPTION } from '../options.js'
import { EXIT, type Command } from '../output.js'
import { withProgress } from '../progress.js'
import { positionals } from '../arguments.js'

export const backup: Command = {
  name: 'backup',
  summary: 'Copy a live store to a verified backup file (one consistent snapshot; other processes keep working).',
  usage: 'tandem backup [store] --out FILE [--config PATH] [--json]',
  options: {
    out: { type: 'string', description: 'the backup file to write (replaced atomically if it exists)' },
    ...CONFIG_OPTION,
  },
  examples: ['tandem backup --out backups/app-$(date +%Y%m%d).db', 'tandem backup data/app.db --out /mnt/backups/app.db --json'],
  async run(ctx) {
    const [argument] = positionals(ctx, [], ['store'])
    if (typeof ctx.values.out !== 'string') throw new TypeError('--out FILE is required: where to write the backup.')
    const dest = ctx.values.out
    const target = await resolveTarget(ctx, argument)
    const store = await openReadable(target, { byPath: true })
    let result: BackupResult
    try {
      result = await withProgress(ctx, `backing up ${describeTarget(target)}`, () => backupStore(store, dest))
    } finally {
      await store.close()
    }
    if (ctx.json) ctx.result({ store: describeTarget(target), ...result })
    else ctx.out(`Backed up ${describeTarget(target)} to ${result.path}: ${formatBytes(result.bytes)} in ${formatDuration(result.durationMs)}, ${result.format === 'sqlite' ? `integrity_check ${result.integrity}` : 'as an NDJSON export (restore it with tandem import)'}.`)
    return EXIT.ok
  },
}
