import {
  closeSync,
  fchmodSync,
  fsync,
  linkSync,
  lstatSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  utimesSync,
  writeSync,
  type Stats,
} from 'node:fs'
import { promisify } from 'node:util'

/**
 * The file-system calls the safe-file helpers make, as one object: the real ones by default, and
 * a seam through which the fault-injection tests make the k-th write, fsync or rename fail. Every
 * helper takes `{ ops }` in its options; nothing else in Tandem replaces them.
 */
export interface FsOps {
  /** Opens `path`; `flags` as Node's fs.open ('wx': create, fail if it exists). Resolves with a descriptor. */
  open(path: string, flags: string, mode?: number): Promise<number>
  /** Writes all of `data` at the descriptor's position. */
  write(fd: number, data: Uint8Array): Promise<void>
  fsync(fd: number): Promise<void>
  fchmod(fd: number, mode: number): Promise<void>
  close(fd: number): Promise<void>
  rename(from: string, to: string): Promise<void>
  /** A hard link: fails with EEXIST when `to` exists (the atomic "create if absent" of a whole, written file). */
  link(from: string, to: string): Promise<void>
  unlink(path: string): Promise<void>
  /** Sets a file's access and modification times (seconds since the epoch). */
  utimes(path: string, atime: number, mtime: number): Promise<void>
  /** lstat; undefined when the path does not exist. */
  stat(path: string): Promise<Stats | undefined>
  readFile(path: string): Promise<Buffer>
}

const fsyncAsync = promisify(fsync)

/** Runs a synchronous call as a promise: its error becomes a rejection, never a throw. */
function settle<T>(call: () => T): Promise<T> {
  try {
    return Promise.resolve(call())
  } catch (error) {
    return Promise.reject(error as Error)
  }
}

/**
 * The real calls. The small ones (open, write of a few KB, rename, link, stat...) run
 * synchronously: on a local disk they take microseconds, less than a hop to the thread pool and
 * back. fsync, which waits for the disk, runs in the thread pool so the event loop keeps going.
 */
export const REAL_FS_OPS: FsOps = Object.freeze({
  open: (path: string, flags: string, mode?: number) => settle(() => openSync(path, flags, mode)),
  write: (fd: number, data: Uint8Array) =>
    settle(() => {
      // write(2) may write less than asked (a signal, a full disk): loop until all of it is out.
      let offset = 0
      while (offset < data.byteLength) offset += writeSync(fd, data, offset, data.byteLength - offset)
    }),
  fsync: (fd: number) => fsyncAsync(fd),
  fchmod: (fd: number, mode: number) => settle(() => fchmodSync(fd, mode)),
  close: (fd: number) => settle(() => closeSync(fd)),
  rename: (from: string, to: string) => settle(() => renameSync(from, to)),
  link: (from: string, to: string) => settle(() => linkSync(from, to)),
  unlink: (path: string) => settle(() => unlinkSync(path)),
  utimes: (path: string, atime: number, mtime: number) => settle(() => utimesSync(path, atime, mtime)),
  stat: (path: string) => settle(() => lstatSync(path, { throwIfNoEntry: false })),
  readFile: (path: string) => settle(() => readFileSync(path)),
})

/** An errno code of a failed call, or undefined. */
export function errnoCode(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException | null)?.code
  return typeof code === 'string' ? code : undefined
}
