// Types of check-run.mjs, for the tests in test/torture.
import type { RunCheckOptions, RunCheckReport } from './checker.mjs'

export function checkRun(dir: string, options?: RunCheckOptions): Promise<RunCheckReport>
