import type { StoredRecord } from '../../index.js'
import { requireConfig } from '../config.js'
import { openWritable, requireDeclared, roleOption } from '../open.js'
import { resolveTarget } from '../target.js'
import { AS_OPTION, IF_VERSION_OPTION, TARGET_OPTIONS } from '../options.js'
import { EXIT, type Command } from '../output.js'
import { integerOption, jsonObjectOption, positionals } from '../arguments.js'
import { printRecord } from '../records.js'

export const put: Command = {
  name: 'put',
  summary:
    "Write a record: insert it (no id: a new id is generated), or with an id insert or replace it. Checked against the collection's writers and schema.",
  usage: 'tandem put <collection> [id] --data JSON [--if-version N] [--as ROLE] [--store STORE] [--schema S] [--config PATH] [--json]',
  options: {
    data: { type: 'string', description: "the record's data, a JSON object (@file or - for stdin)" },
    ...IF_VERSION_OPTION,
    ...AS_OPTION,
    ...TARGET_OPTIONS,
  },
  examples: [
    `tandem put tasks --data '{"title":"write docs","status":"open"}'`,
    `tandem put tasks t-42 --data @task.json --if-version 3`,
    `tandem put jobs --as daemon --data '{"kind":"reindex"}'`,
  ],
  async run(ctx) {
    const [collection, id] = positionals(ctx, ['collection'], ['id'])
    const data = jsonObjectOption(ctx.values.data, '--data', true)!
    const ifVersion = integerOption(ctx.values['if-version'], '--if-version')
    if (ifVersion !== undefined && id === undefined)
      throw new TypeError('--if-version needs the id of the record: tandem put <collection> <id> --if-version N.')
    const role = roleOption(ctx)
    const config = await requireConfig(ctx.values, 'put')
    requireDeclared(config, collection!)
    const store = await openWritable(await resolveTarget(ctx, undefined), config, role)
    let record: StoredRecord
    try {
      const target = store.collection(collection!)
      record = id === undefined ? await target.insert(data) : await target.upsert(id, data, ifVersion === undefined ? {} : { ifVersion })
    } finally {
      await store.close()
    }
    if (ctx.json) ctx.result(record)
    else printRecord(ctx, collection!, record, record.version === 1 ? 'inserted' : 'replaced')
    return EXIT.ok
  },
}
