import type { AnyData, OrderBySpec, Page, Where } from '../../index.js'
import { plural } from '../format.js'
import { openReadable, requireCollection } from '../open.js'
import { TARGET_OPTIONS } from '../options.js'
import { resolveTarget } from '../target.js'
import { EXIT, type Command } from '../output.js'
import { integerOption, jsonObjectOption, positionals } from '../arguments.js'
import { printRecordTable } from '../records.js'

/** The library's bounds: findPage returns 100 records unless told, at most 10,000. */
const DEFAULT_LIMIT = 100
const MAX_LIMIT = 10_000

/** `field`, `-field` (the library's spelling) or `field:asc|desc` (which needs no = in a shell). */
function orderByOption(value: string | boolean | undefined): OrderBySpec | undefined {
  if (typeof value !== 'string') return undefined
  const match = /^(.+):(asc|desc)$/.exec(value)
  return match === null ? value : { field: match[1]!, direction: match[2] as 'asc' | 'desc' }
}

export const find: Command = {
  name: 'find',
  summary: 'List the records of a collection that match a query, one page at a time.',
  usage:
    'tandem find <collection> [--where JSON] [--order-by FIELD] [--limit N] [--after CURSOR] [--store STORE] [--schema S] [--config PATH] [--json]',
  options: {
    where: {
      type: 'string',
      description: 'conditions as JSON: {"status":"open","n":{"gt":3},"$updatedAt":{"gte":"2025-01-01"}} (@file or - for stdin)',
    },
    'order-by': {
      type: 'string',
      description:
        'a field; FIELD:desc (or --order-by=-FIELD) for descending. $id (default), $createdAt, $updatedAt, $version, $role, or a data field',
    },
    limit: { type: 'string', description: `records per page (default ${DEFAULT_LIMIT}, at most ${MAX_LIMIT})` },
    after: { type: 'string', description: 'the "next" cursor a previous page printed: continue after it' },
    ...TARGET_OPTIONS,
  },
  examples: [
    'tandem find tasks',
    `tandem find tasks --where '{"status":"open"}' --order-by '$updatedAt:desc' --limit 20`,
    'tandem find tasks --json | jq -r ".records[].id"',
  ],
  async run(ctx) {
    const [collection] = positionals(ctx, ['collection'])
    const where = jsonObjectOption(ctx.values.where, '--where', false)
    const limit = integerOption(ctx.values.limit, '--limit', MAX_LIMIT) ?? DEFAULT_LIMIT
    const orderBy = orderByOption(ctx.values['order-by'])
    const after = typeof ctx.values.after === 'string' ? ctx.values.after : undefined
    const store = await openReadable(await resolveTarget(ctx, undefined))
    let page: Page<AnyData>
    try {
      await requireCollection(store, collection!)
      page = await store.reader(collection!).findPage({
        ...(where === undefined ? {} : { where: where as Where }),
        ...(orderBy === undefined ? {} : { orderBy }),
        ...(after === undefined ? {} : { after }),
        limit,
      })
    } finally {
      await store.close()
    }
    if (ctx.json) ctx.result({ collection, records: page.records, next: page.next })
    else {
      if (page.records.length > 0) printRecordTable(ctx, page.records)
      ctx.out(ctx.paint(`${plural(page.records.length, 'record')}${page.next === null ? '.' : `; more: add --after ${page.next}`}`, 'dim'))
    }
    return EXIT.ok
  },
}
