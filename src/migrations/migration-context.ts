import type { RecordRow, WriteTx } from '../backends/backend.js'
import { Collection, type StoredRecord } from '../store/collection.js'
import type { AnyData, CollectionSettings } from '../store/config.js'
import { mergePatch } from '../store/data.js'
import { parseField, parseIndexField, type Where } from '../store/query.js'
import { txRunner } from '../store/tx-runner.js'
import { settle } from '../store/settle.js'
import { TandemError } from '../errors.js'

const COLLECTION = /^[A-Za-z][A-Za-z0-9_]{0,62}$/
const PAGE = 500

function checkName(name: string): string {
  if (typeof name !== 'string' || !COLLECTION.test(name))
    throw new TypeError(`Collection name "${String(name)}" must start with a letter and hold only letters, digits and _.`)
  return name
}

/**
 * What a migration's `up` gets: every collection of the store (declared in this program or not),
 * without ownership checks or schemas — data in transition — plus helpers for the common data
 * migrations. Everything runs inside the migration's one transaction, and every record change is
 * appended to the change log like any other write.
 */
export class MigrationContext {
  readonly #tx: WriteTx
  readonly #role: string
  /** Top-level fields this migration added to records (renameField's `to`, backfill's `field`): checked against the schemas at open. */
  readonly addedFields: { collection: string; field: string }[] = []

  /** @internal migrations receive one */
  constructor(tx: WriteTx, role: string) {
    this.#tx = tx
    this.#role = role
  }

  /** The collection `name` (its storage is created if missing), for reads and writes by hand. */
  async collection(name: string): Promise<Collection<AnyData>> {
    await this.#tx.ensureCollection({ name: checkName(name), indexes: [] })
    const settings: CollectionSettings = { name, writers: '*', writerList: ['*'], indexes: [], schema: undefined, history: 'changes' }
    const tx = this.#tx
    const runner = txRunner(
      this.#role,
      (work) => settle(() => work(tx)),
      () => {
        throw new TandemError('UNSUPPORTED', 'The change feed cannot be read from inside a migration or seed.', {
          hint: 'Read changes from a normal store handle.',
        })
      },
    )
    return new Collection(settings, runner)
  }

  /** Calls `fn` with every record (matching `where`), page by page in id order. */
  async forEach(collection: string, fn: (record: StoredRecord) => unknown, where?: Where): Promise<number> {
    const records = await this.collection(collection)
    let after: string | undefined
    let seen = 0
    do {
      const page = await records.findPage({
        orderBy: '$id',
        limit: PAGE,
        ...(where === undefined ? {} : { where }),
        ...(after === undefined ? {} : { after }),
      })
      for (const record of page.records) {
        await fn(record)
        seen++
      }
      after = page.next ?? undefined
    } while (after !== undefined)
    return seen
  }

  /** Renames a top-level field in every record that has it. Resolves with the number changed. */
  async renameField(collection: string, from: string, to: string): Promise<number> {
    this.#checkTopLevel(from)
    this.#checkTopLevel(to)
    const records = await this.collection(collection)
    let changed = 0
    await this.forEach(collection, async (record) => {
      if (!Object.hasOwn(record.data, from)) return
      await records.replace(record.id, mergePatch(record.data, { [from]: undefined, [to]: record.data[from] }) as AnyData)
      changed++
    })
    this.addedFields.push({ collection, field: to })
    return changed
  }

  /** Sets `field` to `value(data)` in every record where it is missing. Resolves with the number changed. */
  async backfill(collection: string, field: string, value: (data: AnyData) => unknown): Promise<number> {
    this.#checkTopLevel(field)
    const records = await this.collection(collection)
    let changed = 0
    await this.forEach(collection, async (record) => {
      if (Object.hasOwn(record.data, field)) return
      await records.replace(record.id, mergePatch(record.data, { [field]: await value(record.data) }) as AnyData)
      changed++
    })
    this.addedFields.push({ collection, field })
    return changed
  }

  async addIndex(collection: string, field: string): Promise<void> {
    await this.#tx.ensureCollection({ name: checkName(collection), indexes: [parseIndexField(field)] })
  }

  async dropIndex(collection: string, field: string): Promise<void> {
    await this.#tx.dropIndex(checkName(collection), parseIndexField(field))
  }

  /**
   * Moves the records matching `where` (all of them without it) from one collection to another,
   * keeping ids, versions, timestamps and roles: how a collection is split in two. Fails with
   * DUPLICATE_ID, rolling the migration back, if an id already exists in the target.
   */
  async moveRecords(from: string, to: string, where?: Where): Promise<number> {
    await this.#tx.ensureCollection({ name: checkName(to), indexes: [] })
    const rows: RecordRow[] = []
    await this.forEach(from, (record) => void rows.push(this.#row(record)), where)
    const at = Date.now()
    for (const row of rows) {
      await this.#tx.delete(from, row.id)
      await this.#tx.appendChange({
        collection: from,
        id: row.id,
        op: 'delete',
        version: row.version,
        role: this.#role,
        at,
        data: row.data,
      })
      await this.#tx.insert(to, row)
      await this.#tx.appendChange({ collection: to, id: row.id, op: 'insert', version: row.version, role: this.#role, at, data: row.data })
    }
    return rows.length
  }

  /** Moves every record to another collection and drops the old one: a rename. */
  async moveCollection(from: string, to: string): Promise<number> {
    const moved = await this.moveRecords(from, to)
    await this.#tx.dropCollection(checkName(from))
    return moved
  }

  /** Drops a collection and every record in it. */
  async dropCollection(name: string): Promise<void> {
    await this.#tx.dropCollection(checkName(name))
  }

  #checkTopLevel(field: string): void {
    const ref = parseField(field)
    if (ref.kind !== 'data' || ref.path.length !== 1) throw new TypeError(`"${field}" must be a top-level data field name.`)
  }

  #row(record: StoredRecord): RecordRow {
    return {
      id: record.id,
      version: record.version,
      createdAt: Date.parse(record.createdAt),
      updatedAt: Date.parse(record.updatedAt),
      role: record.role,
      data: record.data,
    }
  }
}
