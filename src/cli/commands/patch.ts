import type { StoredRecord } from '../../index.js'
import { requireConfig } from '../config.js'
import { openWritable, requireDeclared, roleOption } from '../open.js'
import { resolveTarget } from '../target.js'
import { AS_OPTION, IF_VERSION_OPTION, TARGET_OPTIONS } from '../options.js'
import { EXIT, type Command } from '../output.js'
import { integerOption, jsonObjectOption, positionals } from '../arguments.js'
import { printRecord } from '../records.js'

export const patch: Command = {
  name: 'patch',
  summary: 'Set some top-level fields of a record, atomically; the other fields stay. Checked against the writers and schema.',
  usage: 'tandem patch <collection> <id> --data JSON [--if-version N] [--as ROLE] [--store STORE] [--schema S] [--config PATH] [--json]',
  options: {
    data: { type: 'string', description: 'the fields to set, a JSON object (@file or - for stdin)' },
    ...IF_VERSION_OPTION,
    ...AS_OPTION,
    ...TARGET_OPTIONS,
  },
  examples: [
    `tandem patch tasks t-42 --data '{"status":"done"}'`,
    `tandem patch tasks t-42 --data '{"status":"done"}' --if-version 3 --json`,
  ],
  async run(ctx) {
    const [collection, id] = positionals(ctx, ['collection', 'id'])
    const fields = jsonObjectOption(ctx.values.data, '--data', true)!
    const ifVersion = integerOption(ctx.values['if-version'], '--if-version')
    const role = roleOption(ctx)
    const config = await requireConfig(ctx.values, 'patch')
    requireDeclared(config, collection!)
    const store = await openWritable(await resolveTarget(ctx, undefined), config, role)
    let record: StoredRecord
    try {
      record = await store.collection(collection!).patch(id!, fields, ifVersion === undefined ? {} : { ifVersion })
    } finally {
      await store.close()
    }
    if (ctx.json) ctx.result(record)
    else printRecord(ctx, collection!, record, 'patched')
    return EXIT.ok
  },
}
