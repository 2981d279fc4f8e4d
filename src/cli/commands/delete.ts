import { requireConfig } from '../config.js'
import { openWritable, requireDeclared, roleOption } from '../open.js'
import { resolveTarget } from '../target.js'
import { AS_OPTION, IF_VERSION_OPTION, TARGET_OPTIONS } from '../options.js'
import { EXIT, type Command } from '../output.js'
import { integerOption, positionals } from '../arguments.js'

export const del: Command = {
  name: 'delete',
  summary: 'Delete a record (with --if-version: only if nobody changed it since). Checked against the writers.',
  usage: 'tandem delete <collection> <id> [--if-version N] [--as ROLE] [--store STORE] [--schema S] [--config PATH] [--json]',
  options: { ...IF_VERSION_OPTION, ...AS_OPTION, ...TARGET_OPTIONS },
  examples: ['tandem delete tasks t-42', 'tandem delete tasks t-42 --if-version 4 --json'],
  async run(ctx) {
    const [collection, id] = positionals(ctx, ['collection', 'id'])
    const ifVersion = integerOption(ctx.values['if-version'], '--if-version')
    const role = roleOption(ctx)
    const config = await requireConfig(ctx.values, 'delete')
    requireDeclared(config, collection!)
    const store = await openWritable(await resolveTarget(ctx, undefined), config, role)
    let deleted: boolean
    try {
      deleted = await store.collection(collection!).delete(id!, ifVersion === undefined ? {} : { ifVersion })
    } finally {
      await store.close()
    }
    if (ctx.json) ctx.result({ collection, id, deleted })
    else ctx.out(deleted ? `deleted ${collection}/${id}` : `${collection}/${id} did not exist; nothing was deleted`)
    return EXIT.ok
  },
}
