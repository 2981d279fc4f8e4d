import { REAL_FS_OPS, type FsOps } from '../../src/fs/fs-ops.js'

/** The calls a fault can hit. */
export type FaultCall = 'open' | 'write' | 'fsync' | 'fchmod' | 'close' | 'rename' | 'link'
const FAULTABLE: readonly FaultCall[] = ['open', 'write', 'fsync', 'fchmod', 'close', 'rename', 'link']

/**
 * The real file-system calls, except that the `failAt`-th faultable call (counting from 1) fails
 * with EIO, as a dying disk would. `calls` lists every faultable call made, so a sweep knows how
 * many steps a write has.
 */
export function faultyOps(failAt: number): FsOps & { calls: FaultCall[] } {
  const calls: FaultCall[] = []
  const ops: Record<string, unknown> = { ...REAL_FS_OPS, calls }
  for (const name of FAULTABLE) {
    const real = REAL_FS_OPS[name] as (...args: unknown[]) => Promise<unknown>
    ops[name] = async (...args: unknown[]) => {
      calls.push(name)
      if (calls.length === failAt) throw Object.assign(new Error(`EIO: injected fault at ${name} (call ${failAt})`), { code: 'EIO' })
      return real(...args)
    }
  }
  return ops as unknown as FsOps & { calls: FaultCall[] }
}
