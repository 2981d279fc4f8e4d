import { readFileSync } from 'node:fs'
import { hostname } from 'node:os'

/*
 * Who a lock holder is, precisely enough to tell later whether it still runs. A pid alone is not
 * enough: pids are reused, so a lock file also records the process's start time (field 22 of
 * /proc/<pid>/stat, clock ticks since boot) and the kernel's boot id. A holder on another host
 * cannot be checked at all; only its lease (the lock file's age) can expire.
 */

function readQuietly(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim() || undefined
  } catch {
    return undefined
  }
}

/** The kernel's boot id (changes at every boot), or undefined off Linux. */
export const BOOT_ID: string | undefined = readQuietly('/proc/sys/kernel/random/boot_id')

/** This machine's name as lock files record it. */
export const HOST: string = hostname()

/** When process `pid` started, in clock ticks since boot (field 22 of /proc/<pid>/stat); undefined where unknown. */
export function processStartTicks(pid: number): number | undefined {
  const text = readQuietly(`/proc/${pid}/stat`)
  if (text === undefined) return undefined
  // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
  const value = Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[19])
  return Number.isFinite(value) ? value : undefined
}

/** True when a process with this pid exists (EPERM: it exists but belongs to another user). */
export function isPidRunning(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** This process as a lock file records it. */
export interface ProcessIdentity {
  pid: number
  host: string
  /** The kernel's boot id; absent off Linux. */
  boot?: string
  /** processStartTicks(pid); absent off Linux. */
  procStart?: number
}

let self: ProcessIdentity | undefined

export function currentProcess(): ProcessIdentity {
  if (self === undefined || self.pid !== process.pid) {
    const identity: ProcessIdentity = { pid: process.pid, host: HOST }
    if (BOOT_ID !== undefined) identity.boot = BOOT_ID
    const start = processStartTicks(process.pid)
    if (start !== undefined) identity.procStart = start
    self = identity
  }
  return self
}

/**
 * Whether the process a file names is certainly gone: 'dead', 'alive', or 'unknown' when it ran on
 * another host (or this host cannot tell). Same host and a different boot id: the machine rebooted
 * since, so it is dead. Same boot: dead when no process has that pid, or the one that has it
 * started at another time (the pid was reused).
 */
export function holderState(holder: Partial<ProcessIdentity>): 'dead' | 'alive' | 'unknown' {
  if (holder.host !== HOST || typeof holder.pid !== 'number') return 'unknown'
  if (holder.boot !== undefined && BOOT_ID !== undefined && holder.boot !== BOOT_ID) return 'dead'
  if (!isPidRunning(holder.pid)) return 'dead'
  if (holder.procStart === undefined) return 'alive'
  const start = processStartTicks(holder.pid)
  return start === undefined || start === holder.procStart ? 'alive' : 'dead'
}
