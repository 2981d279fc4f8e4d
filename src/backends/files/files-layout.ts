import { createHash } from 'node:crypto'
import { join } from 'node:path'
import type { Stats } from 'node:fs'

/*
 * Where a files store keeps what (docs/files.md, "The files store"):
 *   <dir>/tandem-store.json        state: change-log head, next createdSeq, trim mark, each collection file's fingerprint
 *   <dir>/changes.jsonl            the change log, one change per line, appended
 *   <dir>/collections/<name>.jsonl one record per line, sorted by id
 *   <dir>/.tandem/shadow/<name>.jsonl  the last content Tandem wrote, to tell what a hand edit changed
 *   <dir>/.tandem/journal.json     a commit in flight (redone by the next writer after a crash)
 *   <dir>/.tandem/store.lock       the store-wide write lock (tandemdb/fs lock protocol)
 */
export interface FilesLayout {
  dir: string
  state: string
  changes: string
  collections: string
  internal: string
  shadow: string
  journal: string
  /** The path whose lock (`<lockTarget>.lock`) guards every write. */
  lockTarget: string
}

/** The state file's name: a directory holding it is a files store. */
export const FILES_STATE_NAME = 'tandem-store.json'

export function filesLayout(dir: string): FilesLayout {
  const internal = join(dir, '.tandem')
  return {
    dir,
    state: join(dir, FILES_STATE_NAME),
    changes: join(dir, 'changes.jsonl'),
    collections: join(dir, 'collections'),
    internal,
    shadow: join(internal, 'shadow'),
    journal: join(internal, 'journal.json'),
    lockTarget: join(internal, 'store'),
  }
}

export function collectionFile(layout: FilesLayout, name: string): string {
  return join(layout.collections, `${name}.jsonl`)
}

export function shadowFile(layout: FilesLayout, name: string): string {
  return join(layout.shadow, `${name}.jsonl`)
}

/** A file's identity as a stat sees it: any write, in place or by rename, changes it. */
export function statIdentity(stat: Stats | undefined): string {
  // Not ctime: a rename changes it, and the identity of a staged file must hold once it is renamed into place.
  return stat === undefined ? 'missing' : `${stat.ino}:${stat.size}:${stat.mtimeMs}`
}

export function contentHash(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 32)
}

/** What tandem-store.json holds. */
export interface StoreState {
  format: 1
  /** The seq of the last committed change. */
  seq: number
  nextCreatedSeq: number
  trimmedThrough: number
  /** Bytes of changes.jsonl that belong to committed changes (an append past it was torn by a crash). */
  changesBytes: number
  /** Per collection: the stat identity and content hash of the file as Tandem last wrote it. */
  files: Record<string, { identity: string; hash: string }>
}

export const EMPTY_STATE: StoreState = Object.freeze({
  format: 1,
  seq: 0,
  nextCreatedSeq: 1,
  trimmedThrough: 0,
  changesBytes: 0,
  files: {},
}) as StoreState
