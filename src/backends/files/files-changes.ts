import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import type { ChangeRow } from '../backend.js'
import { parseChanges } from './files-format.js'

/**
 * Reads the change log incrementally: the log only grows by appends between two retention
 * rewrites (a new inode), so a follower parses only the bytes added since its last look.
 */
export class ChangeLogReader {
  #ino = -1
  #offset = 0
  #changes: ChangeRow[] = []

  constructor(private readonly path: string) {}

  /** Every change with seq <= head, in seq order. */
  read(head: number): ChangeRow[] {
    let fd: number
    try {
      fd = openSync(this.path, 'r')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw error
    }
    try {
      const stat = fstatSync(fd)
      if (stat.ino !== this.#ino || stat.size < this.#offset) {
        this.#ino = stat.ino
        this.#offset = 0
        this.#changes = []
      }
      if (stat.size > this.#offset) {
        const buffer = Buffer.alloc(stat.size - this.#offset)
        const got = readSync(fd, buffer, 0, buffer.length, this.#offset)
        // Only whole lines: an append in progress (or torn by a crash) is read next time.
        const end = buffer.subarray(0, got).lastIndexOf(10) + 1
        if (end > 0) {
          this.#changes.push(...parseChanges(buffer.subarray(0, end).toString('utf8'), Infinity))
          this.#offset += end
        }
      }
    } finally {
      closeSync(fd)
    }
    // Entries past the head belong to a commit not finished yet (or torn and about to be redone).
    let n = this.#changes.length
    while (n > 0 && this.#changes[n - 1]!.seq > head) n--
    return n === this.#changes.length ? this.#changes : this.#changes.slice(0, n)
  }
}
