import { readFileSync } from 'node:fs'

/** One POSIX record lock from Linux's /proc/locks (a waiter's "->" lines are left out). */
export interface PosixLock {
  pid: number
  write: boolean
  /** The locked file's device (as Node's Stats.dev encodes it) and inode. */
  dev: number
  ino: number
  /** The locked byte range, inclusive; `end` is Infinity for "EOF". */
  start: number
  end: number
}

/**
 * The POSIX locks every process holds, from /proc/locks; undefined where it cannot be read (off
 * Linux). Reading /proc opens no store file, so it never disturbs SQLite's locks.
 */
export function readPosixLocks(): PosixLock[] | undefined {
  let text: string
  try {
    text = readFileSync('/proc/locks', 'utf8')
  } catch {
    return undefined
  }
  const locks: PosixLock[] = []
  for (const line of text.split('\n')) {
    // "1: POSIX  ADVISORY  WRITE 31096 fe:00:2154592 120 120"; a waiter's line has "->" after the number.
    const f = line.trim().split(/\s+/)
    if (f[1] !== 'POSIX') continue
    const [major, minor, ino] = (f[5] ?? '').split(':').map((part, i) => (i < 2 ? parseInt(part, 16) : Number(part)))
    const pid = Number(f[4])
    if (!Number.isInteger(pid) || pid <= 0 || major === undefined || minor === undefined || ino === undefined) continue
    // Linux's encoding of a device number, as Node reports it: major in bits 8-19, minor in bits 0-7 and 20-31.
    const dev = ((major & 0xfff) << 8) | (minor & 0xff) | ((minor & 0xfff00) << 12)
    locks.push({ pid, write: f[3] === 'WRITE', dev: dev >>> 0, ino, start: Number(f[6]), end: f[7] === 'EOF' ? Infinity : Number(f[7]) })
  }
  return locks
}

/** True when `lock` is on the file with this device and inode. */
export function isLockOn(lock: PosixLock, file: { dev: number; ino: number }): boolean {
  return lock.ino === file.ino && lock.dev === file.dev >>> 0
}
