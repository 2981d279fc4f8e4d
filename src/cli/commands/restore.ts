import { copyFileSync, rmSync, statSync } from 'node:fs'
import { basename, dirname, extname, join } from 'node:path'
import { backupStore, restoreStore, TandemError, type RestoreResult } from '../../index.js'
import { positionals } from '../arguments.js'
import { formatBytes, formatDuration } from '../format.js'
import { openReadable } from '../open.js'
import { CONFIG_OPTION, STORE_FILE_OPTION } from '../options.js'
import { CliError, EXIT, type Command, type CommandContext } from '../output.js'
import { withProgress } from '../progress.js'
import { describeTarget, resolveTarget, type StoreTarget } from '../target.js'

const METHOD: Record<RestoreResult['method'], string> = {
  created: 'created the store from it',
  replaced: 'replaced the store file',
  'in-place': 'copied it into the live store (--force): restart the processes that have it open',
}

/** The copy of the store a restore replaced: where it is, and whether it is a verified backup or the files as they were. */
export interface PreviousStore {
  path: string
  bytes: number
  /** 'backup': a verified snapshot (backupStore). 'files': the store could not be backed up (damaged?), so its files were copied as they were. */
  method: 'backup' | 'files'
}

/** `app.db` → `app.before-restore-20250131T120000123Z.db`, beside it. */
function previousPath(file: string): string {
  const ext = extname(file)
  const stamp = new Date().toISOString().replace(/[-:.]/g, '')
  return join(dirname(file), `${basename(file, ext)}.before-restore-${stamp}${ext === '' ? '.db' : ext}`)
}

/**
 * Keeps the store about to be replaced: a verified backup beside it, or, when the store cannot be
 * backed up (that is often why it is being restored), a plain copy of its database and WAL files.
 * Nothing in this process has the files open through SQLite during that copy (see store-files.ts).
 */
async function keepPrevious(ctx: CommandContext, target: StoreTarget & { kind: 'file' }): Promise<PreviousStore | null> {
  if (statSync(target.file, { throwIfNoEntry: false }) === undefined) return null
  const path = previousPath(target.file)
  try {
    const store = await openReadable(target)
    try {
      const result = await backupStore(store, path)
      return { path, bytes: result.bytes, method: 'backup' }
    } finally {
      await store.close()
    }
  } catch (error) {
    ctx.note(`The store could not be backed up (${error instanceof Error ? error.message : String(error)}); copying its files as they are.`)
  }
  copyFileSync(target.file, path)
  const wal = statSync(`${target.file}-wal`, { throwIfNoEntry: false })
  if (wal !== undefined && wal.size > 0) copyFileSync(`${target.file}-wal`, `${path}-wal`)
  return { path, bytes: statSync(path).size + (wal?.size ?? 0), method: 'files' }
}

export const restore: Command = {
  name: 'restore',
  summary: 'Replace a store with a backup, atomically, after checking the backup and keeping a copy of the store it replaces; refuses while other processes have the store open unless --force.',
  usage: 'tandem restore <backup> [store] [--force] [--config PATH] [--json]',
  options: {
    force: { type: 'boolean', description: 'restore even though other processes have the store open (written through SQLite as one transaction; restart them after)' },
    ...STORE_FILE_OPTION,
    ...CONFIG_OPTION,
  },
  examples: ['tandem restore backups/app-20250131.db', 'tandem restore backups/app.db data/app.db --force --json'],
  async run(ctx) {
    const [from, argument] = positionals(ctx, ['backup'], ['store'])
    const target = await resolveTarget(ctx, argument)
    if (target.kind !== 'file') throw new CliError('UNSUPPORTED', `tandem restore replaces SQLite store files; ${describeTarget(target)} is a server.`, 'Restore a PostgreSQL store from an export: tandem import FILE --on-conflict overwrite.', EXIT.usage)
    if (statSync(from!, { throwIfNoEntry: false })?.isFile() !== true) throw new CliError('INVALID_BACKUP', `The backup ${from} does not exist or is not a file; nothing was restored.`, 'Check the path of the backup.', EXIT.failed)
    const where = target.override || target.config === undefined ? { path: target.file } : { ...(target.config.store.path === undefined ? {} : { path: target.config.store.path }), ...(target.config.store.dataDir === undefined ? {} : { dataDir: target.config.store.dataDir }) }
    const previous = await withProgress(ctx, `keeping a copy of ${target.file}`, () => keepPrevious(ctx, target))
    let result: RestoreResult
    try {
      result = await withProgress(ctx, `restoring ${from} to ${describeTarget(target)}`, () => restoreStore({ from: from!, ...where, ...(ctx.values.force === true ? { force: true } : {}) }))
    } catch (error) {
      // Refused before anything was touched: the copy is not needed.
      const refused = error instanceof TandemError && (error.code === 'STORE_IN_USE' || error.code === 'INVALID_BACKUP')
      if (previous !== null && refused) for (const file of [previous.path, `${previous.path}-wal`]) rmSync(file, { force: true })
      else if (previous !== null) ctx.note(`The copy of the store made before restoring is at ${previous.path}.`)
      // The library's hint speaks of its option (force: true); here it is a flag.
      if (error instanceof TandemError && error.code === 'STORE_IN_USE') {
        throw new CliError('STORE_IN_USE', error.message, 'Stop the processes that have the store open ("tandem status" lists them), or pass --force to restore under them.', EXIT.failed)
      }
      throw error
    }
    if (ctx.json) ctx.result({ ...result, previous })
    else {
      ctx.out(`Restored ${result.path} from ${from}: ${METHOD[result.method]}; ${formatBytes(result.bytes)} in ${formatDuration(result.durationMs)}, integrity_check ${result.integrity}.`)
      if (previous !== null) ctx.out(`The store it replaced is kept at ${previous.path} (${previous.method === 'backup' ? 'a verified backup' : 'its files as they were: it could not be backed up'}, ${formatBytes(previous.bytes)}).`)
    }
    return EXIT.ok
  },
}
