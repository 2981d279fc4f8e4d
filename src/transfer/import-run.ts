import type { CollectionsConfig } from '../store/config.js'
import type { Store } from '../store/store.js'
import { TxScope } from '../store/tx-scope.js'
import type { ImportSource, SeedHistoryCounts } from './import-history.js'
import { ImportSink, type ImportCounts, type ImportTargetOptions } from './import-sink.js'
import { checkOptions } from '../options.js'

/** What an import did (or, with dryRun, would have done), per collection. */
export interface ImportResult {
  /** True when nothing was written: the counts say what the import would have done. */
  dryRun: boolean
  /** Records read from the input and applied (inserted, overwritten or skipped). */
  records: number
  /** Records of collections left out by the `collections` option. */
  ignored: number
  /** Per collection: what happened to its records. */
  collections: Record<string, ImportCounts>
  /** What the export's seed history did: seed markers added, seeded records the export's store had deleted removed here too. */
  seeds: SeedHistoryCounts
  /** The export's header (engine, time, schema version, fingerprint); absent when the input had none. */
  source?: ImportSource
  durationMs: number
}

/** What a feed reports back: records left out, and (NDJSON imports) the history and the header. */
export interface FeedResult {
  ignored: number
  seeds?: SeedHistoryCounts
  source?: ImportSource
}

/** The options runImport needs: the policy, undeclared collections, dry run. */
export interface ImportRunOptions extends ImportTargetOptions {
  dryRun?: boolean
}

/** Thrown at the end of a dry run to roll its transaction back; never leaves this module. */
class DryRunRollback {}

/**
 * Runs an import as ONE write transaction of the store (inside a `store.transaction()`, in a
 * savepoint of its own, so that a failed import undoes only itself; on its own, at the top level
 * of its transaction, where PostgreSQL can send each write with the next statement instead of
 * waiting for it): `feed` streams the input into the
 * sink; if it throws, every record written so far is rolled back and the store is exactly as it
 * was. A dry run does all the work, then rolls back and reports the counts. Other writers (this
 * process's and other processes') wait for the import to commit, up to their busyTimeoutMs.
 */
export async function runImport<C extends CollectionsConfig>(
  store: Store<C>,
  options: ImportRunOptions,
  feed: (sink: ImportSink<C>) => Promise<FeedResult>,
): Promise<ImportResult> {
  const started = performance.now()
  const dryRun = options.dryRun ?? false
  let sink: ImportSink<C> | undefined
  let fed: FeedResult = { ignored: 0 }
  try {
    const nested = TxScope.current(store) !== undefined
    await store.runWrite((tx) => {
      const work = async (): Promise<void> => {
        sink = new ImportSink(store, tx, options)
        fed = await feed(sink)
        await sink.flush()
        if (dryRun) throw new DryRunRollback()
      }
      return nested ? tx.savepoint(work) : work()
    })
  } catch (error) {
    if (!(error instanceof DryRunRollback)) throw error
  }
  const collections = Object.fromEntries([...sink!.counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
  const records = Object.values(collections).reduce((n, c) => n + c.inserted + c.overwritten + c.skipped, 0)
  return {
    dryRun,
    records,
    ignored: fed.ignored,
    collections,
    seeds: fed.seeds ?? { added: 0, removed: 0 },
    ...(fed.source === undefined ? {} : { source: fed.source }),
    durationMs: Math.round(performance.now() - started),
  }
}

/** Checks the `dryRun` option. */
export function checkDryRun(value: unknown): boolean {
  if (value !== undefined && typeof value !== 'boolean') throw new TypeError(`dryRun must be true or false (got ${JSON.stringify(value)}).`)
  return value ?? false
}

/** Refuses misspelled options, naming the accepted ones. */
export function checkOptionKeys(what: string, options: object, allowed: readonly string[]): void {
  checkOptions(options, allowed, `for ${what}`)
}
