import type { StoredRecord } from '../../index.js'
import { openReadable, requireCollection } from '../open.js'
import { TARGET_OPTIONS } from '../options.js'
import { resolveTarget } from '../target.js'
import { CliError, EXIT, type Command } from '../output.js'
import { positionals } from '../arguments.js'
import { printRecord } from '../records.js'

export const get: Command = {
  name: 'get',
  summary: 'Print one record: its data, version, timestamps and the role that last wrote it.',
  usage: 'tandem get <collection> <id> [--store STORE] [--schema S] [--config PATH] [--json]',
  options: { ...TARGET_OPTIONS },
  examples: ['tandem get tasks 01JB8ZQ3K7Y5N0V2T4W6X8Z9AB', 'tandem get tasks 01JB8ZQ3K7Y5N0V2T4W6X8Z9AB --json | jq .data'],
  async run(ctx) {
    const [collection, id] = positionals(ctx, ['collection', 'id'])
    const store = await openReadable(await resolveTarget(ctx, undefined))
    let record: StoredRecord | undefined
    try {
      await requireCollection(store, collection!)
      record = await store.reader(collection!).get(id!)
    } finally {
      await store.close()
    }
    if (record === undefined)
      throw new CliError(
        'NOT_FOUND',
        `Record ${collection}/${id} does not exist.`,
        `List the ids with "tandem find ${collection}".`,
        EXIT.failed,
      )
    if (ctx.json) ctx.result(record)
    else printRecord(ctx, collection!, record)
    return EXIT.ok
  },
}
