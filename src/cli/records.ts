import type { StoredRecord } from '../index.js'
import { inline, truncate } from './format.js'
import type { CommandContext } from './output.js'
import { renderTable } from './table.js'

/** Data columns a record table shows at most; the rest are summed up in a last column. */
const MAX_DATA_COLUMNS = 6
const MAX_CELL = 40

/** Records as a table: metadata, then the top-level data fields (first seen first). */
export function printRecordTable(ctx: CommandContext, records: readonly StoredRecord[]): void {
  const fields: string[] = []
  for (const r of records) for (const key of Object.keys(r.data)) if (!fields.includes(key)) fields.push(key)
  const shown = fields.slice(0, MAX_DATA_COLUMNS)
  const more = fields.length > shown.length
  const columns = ['id', { header: 'v', align: 'right' as const }, 'updated', 'by', ...shown, ...(more ? ['…'] : [])]
  const rows = records.map((r) => {
    const data = r.data as Record<string, unknown>
    const rest = fields.slice(MAX_DATA_COLUMNS).filter((f) => f in data)
    return [
      r.id,
      String(r.version),
      r.updatedAt,
      r.role,
      ...shown.map((f) => (f in data ? truncate(inline(data[f]), MAX_CELL) : '')),
      ...(more ? [rest.length > 0 ? `+${rest.length}` : ''] : []),
    ]
  })
  for (const line of renderTable(columns, rows, ctx.paint, '')) ctx.out(line)
}

/** One record: its metadata on one line, then its data as indented JSON. */
export function printRecord(ctx: CommandContext, collection: string, record: StoredRecord, verb?: string): void {
  const head = `${verb === undefined ? '' : `${verb} `}${ctx.paint(`${collection}/${record.id}`, 'bold')}`
  ctx.out(`${head}  version ${record.version}, updated ${record.updatedAt} by ${record.role} (created ${record.createdAt})`)
  ctx.out(JSON.stringify(record.data, null, 2))
}
