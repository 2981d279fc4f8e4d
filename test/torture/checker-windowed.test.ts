import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { checkRun } from '../../torture/check-run.mjs'
import { synthesize } from '../../torture/synthetic.mjs'

// The checker in bounded memory (torture/checks/engine.mjs) checks a run a window at a time and
// lets go of what it checked. These histories are synthetic (torture/synthetic.mjs: the real
// workload against an in-memory store that applies each transaction at one instant), long enough
// that many windows are checked and released before an anomaly planted late in them.

const dirs: string[] = []
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })))

function history(options: { lostAt?: number; staleAt?: number }): string {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-windowed-'))
  dirs.push(dir)
  synthesize(dir, { seconds: 40, procs: 2, clients: 1, seed: 7, ...options })
  return dir
}

// Small windows, so the first is released within seconds of history: slack 3 s, graph window 3 s.
const WINDOWS = { slackMs: 3000, windowMs: 3000 }

describe('the torture checker in bounded memory', () => {
  test('reports a clean synthetic history as clean, holding a fraction of it at a time', { timeout: 300_000 }, async () => {
    const report = await checkRun(history({}), WINDOWS)
    expect(report.anomalyCount, JSON.stringify(report.anomalies, null, 1)).toBe(0)
    expect(report.feed.complete).toBe(true)
    expect(report.counts.transactions).toBeGreaterThan(5000)
    // About ten of the forty seconds of history (slack + two graph windows + the key window) are held at once.
    expect(report.checker.heldOps).toBeLessThan(report.counts.transactions / 3)
  })

  test(
    'finds a lost update and a stale read planted 25 s into the history, long after the first window was let go',
    { timeout: 300_000 },
    async () => {
      const report = await checkRun(history({ lostAt: 25, staleAt: 25 }), WINDOWS)
      expect(report.checker.heldOps).toBeLessThan(report.counts.transactions / 3)
      expect(report.anomalies['lost-update'].count, JSON.stringify(report.anomalies, null, 1)).toBeGreaterThan(0)
      // The stale read: a cycle through real-time order in the graph, and a version going backwards.
      expect(report.anomalies['stale-read'].count).toBeGreaterThan(0)
      expect(report.anomalies['version'].count).toBeGreaterThan(0)
    },
  )
})
