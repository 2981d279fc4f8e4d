import { realpathSync } from 'node:fs'
import { resolve } from 'node:path'
import { copyStore, CopyVerificationError, type CopyProgress, type CopyResult, type CopyStoreConfig } from '../../lifecycle.js'
import { integerOption, positionals } from '../arguments.js'
import { formatDuration, plural } from '../format.js'
import { checkStoreFile, CLI_ROLE, hasTandemTables, openBareBackend, openReadable } from '../open.js'
import { CliError, EXIT, type Command, type CommandContext } from '../output.js'
import { checkPostgresStore } from '../postgres-store.js'
import { sniffDatabaseFile } from '../store-files.js'
import { isPostgresUrl, maskUrlsIn, normalizePostgresUrl, rememberSecrets } from '../store-url.js'
import { renderTable } from '../table.js'

/** A <from> or <to> argument: a store file, or a PostgreSQL url with its schema option. */
type Place = { kind: 'file'; file: string } | { kind: 'url'; url: string; schema: string | undefined }

function place(argument: string, schema: string | boolean | undefined, option: string): Place {
  if (isPostgresUrl(argument)) {
    rememberSecrets(argument)
    return { kind: 'url', url: normalizePostgresUrl(argument), schema: typeof schema === 'string' ? schema : undefined }
  }
  if (schema !== undefined) throw new TypeError(`${option} is for a PostgreSQL url; "${argument}" is a store file.`)
  const file = resolve(argument)
  try {
    return { kind: 'file', file: realpathSync(file) }
  } catch {
    return { kind: 'file', file }
  }
}

function configOf(p: Place): CopyStoreConfig {
  if (p.kind === 'file') return { path: p.file, role: CLI_ROLE }
  return { url: p.url, ...(p.schema === undefined ? {} : { postgres: { schema: p.schema } }), role: CLI_ROLE }
}

/** An existing target file must be a Tandem store: copy never adds Tandem's tables to another program's database. */
async function checkTargetFile(file: string): Promise<void> {
  if (sniffDatabaseFile(file).kind === 'missing') return
  checkStoreFile(file)
  const backend = await openBareBackend(file)
  try {
    if (!(await hasTandemTables(backend))) {
      throw new CliError(
        'NOT_A_STORE',
        `${file} is not a Tandem store: it is an SQLite database without Tandem's tables.`,
        'Copy into a new file, or into an existing Tandem store with --overwrite.',
        EXIT.failed,
      )
    }
  } finally {
    await backend.close()
  }
}

/** The progress line: the phase, the collection, its records and all records, redrawn as batches commit. */
function progressLine(p: CopyProgress, startedMs: number): string {
  const verb = { clear: 'clearing', copy: 'copying', verify: 'verifying' }[p.phase]
  const percent = p.recordsTotal > 0 ? ` (${Math.min(100, Math.floor((p.recordsDone / p.recordsTotal) * 100))}%)` : ''
  return `${verb} ${p.collection} ${p.done.toLocaleString('en')}/${p.total.toLocaleString('en')} · ${p.recordsDone.toLocaleString('en')}/${p.recordsTotal.toLocaleString('en')} records${percent} · ${formatDuration(performance.now() - startedMs)}`
}

function printResult(ctx: CommandContext, result: CopyResult): void {
  const rows = result.collections.map((c) => [
    c.collection,
    String(c.count),
    c.checksum.slice(0, 16),
    ...(result.ok ? [] : [String(c.target.count), c.target.checksum.slice(0, 16)]),
    c.ok ? { text: 'ok', style: 'green' as const } : { text: 'MISMATCH', style: 'red' as const },
  ])
  const columns = result.ok
    ? ['collection', { header: 'records', align: 'right' as const }, 'checksum', 'verified']
    : [
        'collection',
        { header: 'source', align: 'right' as const },
        'source checksum',
        { header: 'target', align: 'right' as const },
        'target checksum',
        'verified',
      ]
  for (const line of renderTable(columns, rows, ctx.paint)) ctx.out(line)
  const where = `from ${maskUrlsIn(result.from.location)} (${result.from.kind}) to ${maskUrlsIn(result.to.location)} (${result.to.kind})`
  if (result.ok)
    ctx.out(
      `Copied ${plural(result.records, 'record')} ${where} in ${formatDuration(result.durationMs)}${result.snapshot ? ', from one consistent snapshot' : ''}; counts and checksums match.`,
    )
  else
    ctx.out(
      ctx.paint(
        `Copied ${plural(result.records, 'record')} ${where}, but the target does not match the source in ${plural(result.collections.filter((c) => !c.ok).length, 'collection')}.`,
        'red',
      ),
    )
}

export const copyCommand: Command = {
  name: 'copy',
  summary: 'Copy a whole store to another store or engine (SQLite file <-> PostgreSQL), streaming, then verify counts and checksums.',
  usage: 'tandem copy <from> <to> [--from-schema S] [--to-schema S] [--collection C[,C...]] [--overwrite] [--batch-size N] [--json]',
  options: {
    'from-schema': { type: 'string', description: 'the PostgreSQL schema of <from> when it is a postgres:// url (default "tandem")' },
    'to-schema': { type: 'string', description: 'the PostgreSQL schema of <to> when it is a postgres:// url (default "tandem")' },
    collection: {
      type: 'string',
      description: 'only these collections (comma-separated); default: all, with the migration history and applied seeds',
    },
    overwrite: {
      type: 'boolean',
      description: 'delete the records a target collection holds before copying (default: refuse a non-empty one)',
    },
    'batch-size': { type: 'string', description: 'records per page read and per write transaction (default 1000, at most 10000)' },
  },
  examples: [
    'tandem copy data/app.db postgres://app@db:5432/app --to-schema app',
    'tandem copy postgres://app@db:5432/app data/app-copy.db --from-schema app',
    'tandem copy data/app.db data/app-copy.db --collection tasks,jobs --json',
  ],
  async run(ctx) {
    const [fromArgument, toArgument] = positionals(ctx, ['from', 'to'])
    const from = place(fromArgument!, ctx.values['from-schema'], '--from-schema')
    const to = place(toArgument!, ctx.values['to-schema'], '--to-schema')
    const collections =
      typeof ctx.values.collection === 'string'
        ? ctx.values.collection
            .split(',')
            .map((c) => c.trim())
            .filter(Boolean)
        : undefined
    const batchSize = integerOption(ctx.values['batch-size'], '--batch-size', 10_000)
    if (from.kind === 'file' && to.kind === 'file' && from.file === to.file)
      throw new TypeError(`<from> and <to> are the same file (${from.file}); copy needs two different stores.`)
    if (to.kind === 'file') await checkTargetFile(to.file)
    // A source schema that holds no store is refused, not created empty (the target may be new).
    if (from.kind === 'url')
      await checkPostgresStore({ kind: 'url', url: from.url, schema: from.schema, override: true, origin: '<from>', config: undefined })
    // A source file is opened like every reading command opens one: refused when missing or not a Tandem store.
    const opened =
      from.kind === 'file'
        ? await openReadable({ kind: 'file', file: from.file, override: true, origin: 'argument', config: undefined })
        : undefined
    const started = performance.now()
    let latest = ''
    let drawnAt = 0
    const timer = setInterval(() => latest !== '' && ctx.progress(latest), 250)
    let result: CopyResult
    try {
      result = await copyStore({
        from: opened ?? configOf(from),
        to: configOf(to),
        ...(collections === undefined ? {} : { collections }),
        ...(ctx.values.overwrite === true ? { overwrite: true } : {}),
        ...(batchSize === undefined ? {} : { batchSize }),
        onProgress: (p) => {
          latest = progressLine(p, started)
          // Redrawn at most every 100 ms (small batches commit far more often than a terminal needs).
          if (performance.now() - drawnAt < 100) return
          drawnAt = performance.now()
          ctx.progress(latest)
        },
      })
    } catch (error) {
      if (!(error instanceof CopyVerificationError)) throw error
      result = error.result
      if (!ctx.json) ctx.note(`error ${error.code}: ${error.message}\ntry: ${error.hint ?? ''}`)
    } finally {
      clearInterval(timer)
      ctx.progress('')
      await opened?.close()
    }
    const shown = {
      ...result,
      from: { ...result.from, location: maskUrlsIn(result.from.location) },
      to: { ...result.to, location: maskUrlsIn(result.to.location) },
    }
    if (ctx.json) ctx.result(shown)
    else printResult(ctx, shown)
    return result.ok ? EXIT.ok : EXIT.checkFailed
  },
}
