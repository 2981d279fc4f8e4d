import { linkSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { createTempBeside, fsyncDirectory } from '../../fs/durable-file.js'
import { backupStore, type BackupResult } from '../../lifecycle.js'
import { positionals } from '../arguments.js'
import { formatBytes, formatDuration } from '../format.js'
import { openReadable } from '../open.js'
import { TARGET_OPTIONS } from '../options.js'
import { CliError, EXIT, type Command } from '../output.js'
import { withProgress } from '../progress.js'
import { describeTarget, resolveTarget } from '../target.js'

function outExists(dest: string): CliError {
  return new CliError(
    'OUT_EXISTS',
    `${dest} already exists; the backup would replace it.`,
    'Choose a new file name (e.g. with the date in it), or pass --force to replace it.',
    EXIT.usage,
  )
}

/**
 * Puts the finished backup `temp` at `dest` unless a file appeared there meanwhile: link() fails
 * with EEXIST instead of replacing, so a file created between the check and now is never lost.
 * A file system without hard links gets a rename after a last check.
 */
function publishNew(temp: string, dest: string): void {
  try {
    linkSync(temp, dest)
    rmSync(temp, { force: true })
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EEXIST') throw outExists(dest)
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EXDEV') throw error
    if (statSync(dest, { throwIfNoEntry: false }) !== undefined) throw outExists(dest)
    renameSync(temp, dest)
  }
  // The new name must survive a crash as the file's content does (backupStore fsynced that). The
  // library's fsyncDirectory: a file system that refuses fsync on a directory must not turn a
  // backup already in place into a reported failure.
  fsyncDirectory(dirname(dest))
}

export const backup: Command = {
  name: 'backup',
  summary: 'Copy a live store to a verified backup file (one consistent snapshot; other processes keep working).',
  usage: 'tandem backup [store] --out FILE [--force] [--schema S] [--config PATH] [--json]',
  options: {
    out: { type: 'string', description: 'the backup file to write; refused if it exists, unless --force' },
    force: { type: 'boolean', description: 'replace --out if it exists (atomically: the old file stays until the new one is verified)' },
    ...TARGET_OPTIONS,
  },
  examples: ['tandem backup --out backups/app-$(date +%Y%m%d).db', 'tandem backup data/app.db --out /mnt/backups/app.db --force --json'],
  async run(ctx) {
    const [argument] = positionals(ctx, [], ['store'])
    if (typeof ctx.values.out !== 'string') throw new TypeError('--out FILE is required: where to write the backup.')
    const dest = resolve(ctx.values.out)
    const force = ctx.values.force === true
    // Checked first, so nothing is copied for a backup that could not be put in place.
    if (!force && statSync(dest, { throwIfNoEntry: false }) !== undefined) throw outExists(dest)
    const target = await resolveTarget(ctx, argument)
    const store = await openReadable(target)
    // Without --force the backup is written beside dest under a temp name, then linked into place.
    let temp: string | undefined
    let result: BackupResult
    try {
      // backupStore makes the folder for its own file; the temp file beside dest needs it first.
      if (!force) mkdirSync(dirname(dest), { recursive: true, mode: 0o700 })
      const into = force ? dest : createTempBeside(dest)
      temp = into
      result = await withProgress(ctx, `backing up ${describeTarget(target)}`, () => backupStore(store, into))
      if (!force) {
        publishNew(into, dest)
        result = { ...result, path: dest }
      }
    } finally {
      if (!force && temp !== undefined) rmSync(temp, { force: true })
      await store.close()
    }
    if (ctx.json) ctx.result({ store: describeTarget(target), ...result })
    else
      ctx.out(
        `Backed up ${describeTarget(target)} to ${result.path}: ${formatBytes(result.bytes)} in ${formatDuration(result.durationMs)}, ${result.format === 'sqlite' ? `integrity_check ${result.integrity}` : 'as an NDJSON export (restore it with tandem import)'}.`,
      )
    return EXIT.ok
  },
}
