import { copyFileSync, rmSync, statSync } from 'node:fs'
import { basename, dirname, extname, join } from 'node:path'
import { TandemError } from '../../index.js'
import { backupStore, restoreStore, type RestoreResult } from '../../lifecycle.js'
import { type ProcessEntry } from '../../registry/process-registry.js'
import { positionals } from '../arguments.js'
import { formatBytes, formatDuration, plural } from '../format.js'
import { hasTandemTables, openBareBackend, openReadable } from '../open.js'
import { readProcesses } from '../peek.js'
import { CONFIG_OPTION, STORE_FILE_OPTION } from '../options.js'
import { CliError, EXIT, type Command, type CommandContext } from '../output.js'
import { withProgress } from '../progress.js'
import { describeTarget, resolveTarget, type StoreTarget } from '../target.js'

const IN_USE_HINT = 'Stop the processes that have the store open ("tandem status" lists them), or pass --force to restore under them.'

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
  const wal = statSync(`${target.file}-wal`, { throwIfNoEntry: false })
  const needed = (statSync(target.file, { throwIfNoEntry: false })?.size ?? 0) + (wal?.size ?? 0)
  try {
    copyFileSync(target.file, path)
    if (wal !== undefined && wal.size > 0) copyFileSync(`${target.file}-wal`, `${path}-wal`)
  } catch (error) {
    // A part of a copy (disk full midway) is no copy: it must not be mistaken for the old store.
    for (const file of [path, `${path}-wal`]) rmSync(file, { force: true })
    const code = (error as NodeJS.ErrnoException).code
    throw new TandemError(
      'STORAGE_FAILURE',
      `Could not keep a copy of ${target.file} before restoring (${code ?? (error instanceof Error ? error.message : String(error))}); nothing was restored.`,
      {
        cause: error,
        hint:
          code === 'ENOSPC' || code === 'EDQUOT'
            ? `Free disk space beside ${target.file} (the copy needs ${formatBytes(needed)}), then restore again.`
            : `Check the permissions of ${dirname(target.file)}, then restore again.`,
      },
    )
  }
  return { path, bytes: statSync(path).size + (wal?.size ?? 0), method: 'files' }
}

/**
 * Refuses a restore without --force that restoreStore would refuse (STORE_IN_USE) because
 * processes the registry lists as running have the store open, before the copy of the store is
 * made: on a big store that copy is the slow part, and it would only be deleted again. A connection
 * that never registered (an sqlite3 shell) is still found by restoreStore's own probe; a store this
 * check cannot read is left to restoreStore too.
 */
async function refuseIfRegisteredHolders(target: StoreTarget & { kind: 'file' }): Promise<void> {
  if (statSync(target.file, { throwIfNoEntry: false })?.isFile() !== true) return
  let processes: ProcessEntry[]
  try {
    const backend = await openBareBackend(target.file, target.config?.store.busyTimeoutMs, { readOnly: true })
    try {
      if (!(await hasTandemTables(backend))) return
      processes = (await readProcesses(backend)).processes
    } finally {
      await backend.close()
    }
  } catch {
    return
  }
  if (processes.length === 0) return
  const who = processes.map((p) => `pid ${p.pid} on ${p.host} (role "${p.role}")`).join(', ')
  throw new CliError(
    'STORE_IN_USE',
    `${plural(processes.length, 'process', 'processes')} ${processes.length === 1 ? 'has' : 'have'} ${target.file} open: ${who}; nothing was restored.`,
    IN_USE_HINT,
    EXIT.failed,
  )
}

export const restore: Command = {
  name: 'restore',
  summary:
    'Replace a store with a backup, atomically, after checking the backup and keeping a copy of the store it replaces; refuses while other processes have the store open unless --force.',
  usage: 'tandem restore <backup> [store] [--force] [--config PATH] [--json]',
  options: {
    force: {
      type: 'boolean',
      description:
        'restore even though other processes have the store open (written through SQLite as one transaction; restart them after)',
    },
    ...STORE_FILE_OPTION,
    ...CONFIG_OPTION,
  },
  examples: ['tandem restore backups/app-20250131.db', 'tandem restore backups/app.db data/app.db --force --json'],
  async run(ctx) {
    const [from, argument] = positionals(ctx, ['backup'], ['store'])
    const target = await resolveTarget(ctx, argument)
    if (target.kind !== 'file')
      throw new CliError(
        'UNSUPPORTED',
        `tandem restore replaces SQLite store files; ${describeTarget(target)} is a server.`,
        'Restore a PostgreSQL store from an export: tandem import FILE --on-conflict overwrite.',
        EXIT.usage,
      )
    if (statSync(from!, { throwIfNoEntry: false })?.isFile() !== true)
      throw new CliError(
        'INVALID_BACKUP',
        `The backup ${from} does not exist or is not a file; nothing was restored.`,
        'Check the path of the backup.',
        EXIT.failed,
      )
    const where =
      target.override || target.config === undefined
        ? { path: target.file }
        : {
            ...(target.config.store.path === undefined ? {} : { path: target.config.store.path }),
            ...(target.config.store.dataDir === undefined ? {} : { dataDir: target.config.store.dataDir }),
          }
    if (ctx.values.force !== true) await refuseIfRegisteredHolders(target)
    const previous = await withProgress(ctx, `keeping a copy of ${target.file}`, () => keepPrevious(ctx, target))
    let result: RestoreResult
    try {
      result = await withProgress(ctx, `restoring ${from} to ${describeTarget(target)}`, () =>
        restoreStore({ from: from!, ...where, ...(ctx.values.force === true ? { force: true } : {}) }),
      )
    } catch (error) {
      // Refused before anything was touched: the copy is not needed.
      const refused = error instanceof TandemError && (error.code === 'STORE_IN_USE' || error.code === 'INVALID_BACKUP')
      if (previous !== null && refused) for (const file of [previous.path, `${previous.path}-wal`]) rmSync(file, { force: true })
      else if (previous !== null) ctx.note(`The copy of the store made before restoring is at ${previous.path}.`)
      // The library's hint speaks of its option (force: true); here it is a flag.
      if (error instanceof TandemError && error.code === 'STORE_IN_USE') {
        throw new CliError('STORE_IN_USE', error.message, IN_USE_HINT, EXIT.failed)
      }
      throw error
    }
    if (ctx.json) ctx.result({ ...result, previous })
    else {
      ctx.out(
        `Restored ${result.path} from ${from}: ${METHOD[result.method]}; ${formatBytes(result.bytes)} in ${formatDuration(result.durationMs)}, integrity_check ${result.integrity}.`,
      )
      if (previous !== null)
        ctx.out(
          `The store it replaced is kept at ${previous.path} (${previous.method === 'backup' ? 'a verified backup' : 'its files as they were: it could not be backed up'}, ${formatBytes(previous.bytes)}).`,
        )
    }
    return EXIT.ok
  },
}
