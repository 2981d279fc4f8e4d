import { closeSync, fsyncSync, ftruncateSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import { fsyncDirectory, removeQuietly } from '../../fs/durable-file.js'
import { tempNameFor, writeFileAtomic } from '../../fs/atomic-write.js'
import type { FilesLayout } from './files-layout.js'

/*
 * One commit touches several files (collections, the change log, the state), so it is made
 * atomic with a redo journal: every new file is first written complete and fsynced under a temp
 * name, then the journal naming the renames, removals and the change-log append is put in place
 * (atomically, fsynced); only then are they applied. A crash before the journal lands leaves the
 * old state (plus temp files, cleaned up later); after it, the next writer (under the store lock)
 * applies the journal again: every step is idempotent (a rename whose temp is gone is done; the
 * append truncates to its offset first). The state file is renamed last, so a reader that sees the
 * new head finds the records and changes it names.
 */
export interface Journal {
  renames: [temp: string, target: string][]
  removals: string[]
  append?: { offset: number; text: string }
}

/**
 * Writes `text` complete under a fresh temp name beside `target` (fsynced unless `durable` is
 * false: the shadow copies, which only tell what a hand edit changed); returns the temp path.
 */
export function stageFile(target: string, text: string, durable = true): string {
  const temp = tempNameFor(target)
  const fd = openSync(temp, 'wx', 0o644)
  try {
    writeSync(fd, text)
    if (durable) fsyncSync(fd)
  } catch (error) {
    closeSync(fd)
    removeQuietly(temp)
    throw error
  }
  closeSync(fd)
  return temp
}

function applyJournal(layout: FilesLayout, journal: Journal): void {
  if (journal.append !== undefined) {
    const fd = openSync(layout.changes, 'a+')
    try {
      ftruncateSync(fd, journal.append.offset)
      writeSync(fd, journal.append.text, journal.append.offset)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
  }
  const dirs = new Set<string>()
  for (const [temp, target] of journal.renames) {
    try {
      renameSync(temp, target)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error // ENOENT: renamed before a crash
    }
    dirs.add(dirname(target))
  }
  for (const path of journal.removals) {
    rmSync(path, { force: true })
    dirs.add(dirname(path))
  }
  // The shadow folder is not flushed: a shadow lost in a power cut only makes the next hand edit
  // of that collection announce its records as inserts (see FilesBackend.#loadForWrite).
  for (const dir of dirs) if (dir !== layout.shadow) fsyncDirectory(dir)
}

/** Commits `journal`: the journal file first (durably), then its steps, then the journal goes. */
export async function commitJournal(layout: FilesLayout, journal: Journal): Promise<void> {
  try {
    await writeFileAtomic(layout.journal, JSON.stringify(journal))
  } catch (error) {
    for (const [temp] of journal.renames) removeQuietly(temp)
    throw error
  }
  applyJournal(layout, journal)
  // Not fsynced: if this removal is lost in a power cut, the journal is applied again, harmlessly
  // (each later commit puts its own journal in place durably before touching anything).
  rmSync(layout.journal, { force: true })
}

/** Finishes a commit a crash interrupted, if any (call under the store lock). True when there was one. */
export function recoverJournal(layout: FilesLayout): boolean {
  let text: string
  try {
    text = readFileSync(layout.journal, 'utf8')
  } catch {
    return false
  }
  applyJournal(layout, JSON.parse(text) as Journal)
  rmSync(layout.journal, { force: true })
  return true
}
