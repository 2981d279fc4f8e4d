import { restoreStore, TandemError, type RestoreResult } from '../../index.js'
import { formatBytes, formatDuration } from '../format.js'
import { describeTarget, resolveTarget } from '../open.js'
import { CONFIG_OPTION } from '../options.js'
import { CliError, EXIT, type Command } from '../output.js'
import { withProgress } from '../progress.js'
import { positionals } from '../arguments.js'

const METHOD: Record<RestoreResult['method'], string> = {
  created: 'created the store from it',
  replaced: 'replaced the store file',
  'in-place': 'copied it into the live store (--force): restart the processes that have it open',
}

export const restore: Command = {
  name: 'restore',
  summary: 'Replace a store with a backup, atomically, after checking the backup; refuses while other processes have the store open unless --force.',
  usage: 'tandem restore <backup> [store] [--force] [--config PATH] [--json]',
  options: {
    force: { type: 'boolean', description: 'restore even though other processes have the store open (written through SQLite as one transaction; restart them after)' },
    ...CONFIG_OPTION,
  },
  examples: ['tandem restore backups/app-20250131.db', 'tandem restore backups/app.db data/app.db --force --json'],
  async run(ctx) {
    const [from, argument] = positionals(ctx, ['backup'], ['store'])
    const target = await resolveTarget(ctx, argument)
    if (target.kind !== 'file') throw new CliError('UNSUPPORTED', `tandem restore replaces SQLite store files; ${describeTarget(target)} is a server.`, 'Restore a PostgreSQL store from an export: tandem import FILE --on-conflict overwrite.', EXIT.usage)
    const where = target.override || target.config === undefined ? { path: target.file } : { ...(target.config.store.path === undefined ? {} : { path: target.config.store.path }), ...(target.config.store.dataDir === undefined ? {} : { dataDir: target.config.store.dataDir }) }
    const result = await withProgress(ctx, `restoring ${from} to ${describeTarget(target)}`, () => restoreStore({ from: from!, ...where, ...(ctx.values.force === true ? { force: true } : {}) })).catch((error: unknown) => {
      // The library's hint speaks of its option (force: true); here it is a flag.
      if (error instanceof TandemError && error.code === 'STORE_IN_USE') {
        throw new CliError('STORE_IN_USE', error.message, 'Stop the processes that have the store open ("tandem status" lists them), or pass --force to restore under them.', EXIT.failed)
      }
      throw error
    })
    if (ctx.json) ctx.result(result)
    else ctx.out(`Restored ${result.path} from ${from}: ${METHOD[result.method]}; ${formatBytes(result.bytes)} in ${formatDuration(result.durationMs)}, integrity_check ${result.integrity}.`)
    return EXIT.ok
  },
}
