import type { ChangeRow } from '../backend.js'
import { parseCollection, recordLine, type StoredRow } from './files-format.js'

/** A hand edit's effect on one collection: its rows now, and the changes that announce it. */
export interface HandEdit {
  rows: Map<string, StoredRow>
  changes: Omit<ChangeRow, 'seq'>[]
}

/** The role hand edits are recorded under, in the records and on the change feed. */
export const HAND_EDIT_ROLE = 'hand-edit'

/**
 * What a person changed in a collection file since Tandem last wrote it (`before`, from the
 * shadow copy): each record added, changed or removed becomes an insert, update or delete on the
 * change feed, at a new version. An added line may hold only id and data; a changed one keeps its
 * createdAt and createdSeq. Rejects (badLine, naming the line) when the file does not parse: then
 * nothing is announced and nothing written, and the file stays as the person left it.
 */
export function reconcileHandEdit(
  collection: string,
  file: string,
  text: string,
  before: Map<string, StoredRow>,
  now: number,
  nextCreatedSeq: () => number,
): HandEdit {
  const parsed = parseCollection(text, file, () => ({ version: 1, role: HAND_EDIT_ROLE, createdAt: now, updatedAt: now, createdSeq: 0 }))
  const rows = new Map<string, StoredRow>()
  const changes: Omit<ChangeRow, 'seq'>[] = []
  for (const [id, row] of parsed) {
    const old = before.get(id)
    if (old === undefined) {
      const inserted = { ...row, version: Math.max(row.version, 1), role: HAND_EDIT_ROLE, updatedAt: now, createdSeq: nextCreatedSeq() }
      rows.set(id, inserted)
      changes.push({ collection, id, op: 'insert', version: inserted.version, role: HAND_EDIT_ROLE, at: now, data: inserted.data })
    } else if (recordLine(row) !== recordLine(old)) {
      // A changed record moves past every version a writer could hold: an ifVersion write based on
      // the old content now fails instead of overwriting the edit.
      const updated = {
        ...row,
        version: Math.max(row.version, old.version) + 1,
        role: HAND_EDIT_ROLE,
        updatedAt: now,
        createdAt: old.createdAt,
        createdSeq: old.createdSeq,
      }
      rows.set(id, updated)
      changes.push({ collection, id, op: 'update', version: updated.version, role: HAND_EDIT_ROLE, at: now, data: updated.data })
    } else rows.set(id, old)
  }
  for (const [id, old] of before) {
    if (!parsed.has(id)) changes.push({ collection, id, op: 'delete', version: old.version, role: HAND_EDIT_ROLE, at: now, data: old.data })
  }
  return { rows, changes }
}
