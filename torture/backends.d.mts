// Types of backends.mjs, for the tests in test/torture.
export interface TortureBackend {
  description: string
  gapFreeSeq: boolean
  available(): Promise<{ code: 'NOT_BUILT' | 'UNREACHABLE'; reason: string } | undefined>
  faults: Record<string, { everyMs: number }>
}
export const BACKENDS: Record<'sqlite' | 'postgres', TortureBackend>
