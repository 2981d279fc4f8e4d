/** When this module loaded, by the wall clock and by the monotonic one. */
const wallAtStart = Date.now()
const monotonicAtStart = performance.now()

/**
 * The wall-clock time to judge ages by: `wallNow`, but never later than the wall time this process
 * started with plus the monotonic time elapsed since. A clock stepped ahead while the process runs
 * (a bad NTP step, a virtual machine resumed from a snapshot) then cannot make retention take
 * young records for old ones; a clock stepped back is taken as it is (records look younger, so
 * they are trimmed later, never sooner). After a suspend the monotonic clock lags (it stops while
 * the machine sleeps): ages are underestimated by the time slept, in the same safe direction.
 */
export function steadyNow(wallNow: number = Date.now()): number {
  return Math.min(wallNow, wallAtStart + Math.round(performance.now() - monotonicAtStart))
}
