// Types of checker.mjs, for the tests in test/torture (the harness itself is plain ESM).

export type AnomalyClass =
  | 'lost-update'
  | 'aborted-read'
  | 'intermediate-read'
  | 'order-cycle'
  | 'read-skew'
  | 'stale-read'
  | 'version'
  | 'duplicate'
  | 'feed'
  | 'partial'
  | 'health'

/** One operation inside a transaction; see generator.mjs. */
export type MicroOp =
  | { f: 'create'; k: string }
  | { f: 'read'; k: string }
  | { f: 'readAll'; lo: string; hi: string }
  | { f: 'append'; k: string; val: string }
  | { f: 'incr'; k: string }
  | { f: 'patch'; k: string; field: 'a' | 'b'; val: string }
  | { f: 'cas'; k: string; val: string }

/** A record's state: the whole list `l`, or its summary (len, last, h) as the logs carry it. */
export interface RecordState {
  v: number
  l?: string[]
  len?: number
  last?: string | null
  h?: string
  n: number
  a: string | null
  b: string | null
}

/** What a micro-op returned: a state (read), a map of states (readAll), or the version written. */
export type MicroResult = RecordState | null | Record<string, RecordState> | { v: number }

export interface HistoryOp {
  id: string
  session: string
  /** Microseconds on the shared clock. */
  inv: number
  /** Infinity (or absent) when the outcome is unknown. */
  cmp?: number
  status: 'ok' | 'fail' | 'unknown'
  kind: 'direct' | 'tx'
  abort?: boolean
  txn: MicroOp[]
  res?: MicroResult[]
  error?: { code: string; msg?: string }
}

export interface FeedChange {
  seq: number
  c: string
  id: string
  op: string
  v: number
  d?: { l?: string[]; len?: number; last?: string | null; h?: string; n: number; a: string | null; b: string | null }
}

export interface History {
  ops: HistoryOp[]
  final?: { head: number; records: Record<string, RecordState>; integrity?: string[] }
  feed?: { incarnations: { position: number | undefined; changes: FeedChange[]; acks: number[] }[] }
  health?: { what: string; detail: string }[]
  faults?: Record<string, { injected: number; busyOrFailed?: number }>
}

export interface CheckOptions {
  /** The backend's change-log seqs have no holes (SQLite). Default true. */
  gapFreeSeq?: boolean
  /** Also look for cycles through real-time order. Default true. */
  realtime?: boolean
}

export interface CheckReport {
  anomalies: Record<AnomalyClass, { count: number; examples: { message: string; ops: string[] }[] }>
  anomalyCount: number
  counts: {
    transactions: number
    ok: number
    failed: number
    unknown: number
    microOps: number
    failedBy: Record<string, number>
    unknownBy: Record<string, number>
  }
  feed: { complete: boolean; changes: number }
  faults: Record<string, { injected: number; busyOrFailed?: number }>
}

export const ANOMALY_CLASSES: Record<AnomalyClass, string>
export function check(history: History, options?: CheckOptions): CheckReport

export interface RunCheckOptions {
  /** How long after a key leaves the generator's window its operations may still start (default 10,000). */
  slackMs?: number
  /** The cycle search's window: cycles among transactions invoked within it are found (default 10,000). */
  windowMs?: number
  /** Most operations held at once before the checker gives up with CHECK_UNBOUNDED (default 2,000,000). */
  maxHeld?: number
}

export interface RunCheckReport extends CheckReport {
  checker: { seconds: number; cpuSeconds: number; peakRssBytes: number; peakHeapBytes: number; heldOps: number }
}
