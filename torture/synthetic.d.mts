// Types of synthetic.mjs, for the tests in test/torture.
export interface SynthesizeOptions {
  seconds: number
  procs?: number
  clients?: number
  seed?: number
  keys?: number
  keyShiftMs?: number
  killEveryMs?: number
  /** Plant a lost update at the first append after this many seconds. */
  lostAt?: number
  /** Plant a stale read at the first lone read after this many seconds. */
  staleAt?: number
}

export function synthesize(dir: string, options: SynthesizeOptions): { transactions: number; changes: number }
