import { requireConfig } from '../config.js'
import { formatBytes } from '../format.js'
import { openWritable, roleOption } from '../open.js'
import { resolveTarget } from '../target.js'
import { AS_OPTION, TARGET_OPTIONS } from '../options.js'
import { EXIT, type Command } from '../output.js'
import { positionals } from '../arguments.js'

export const compact: Command = {
  name: 'compact',
  summary: 'Apply retention now (collections and the change log), then give the free space back to the file system.',
  usage: 'tandem compact [store] [--as ROLE] [--schema S] [--config PATH] [--json]',
  options: { ...AS_OPTION, ...TARGET_OPTIONS },
  examples: ['tandem compact', 'tandem compact data/app.db --json'],
  async run(ctx) {
    const [file] = positionals(ctx, [], ['store'])
    const config = await requireConfig(ctx.values, 'compact')
    const store = await openWritable(await resolveTarget(ctx, file), config, roleOption(ctx))
    let report
    try {
      const trims = await store.compact()
      const reclaimed = await store.reclaimSpace()
      report = { ...trims, reclaimed: reclaimed ?? null }
    } finally {
      await store.close()
    }
    if (ctx.json) ctx.result(report)
    else {
      const records = Object.values(report.trimmed).reduce((n, c) => n + c, 0)
      ctx.out(`trimmed ${records} record(s) by retention and ${report.changesTrimmed} change(s) from the log`)
      const r = report.reclaimed
      if (r === null) ctx.out('this engine cannot give space back')
      else {
        if (r.rewritten) ctx.out(`rewrote the file once (VACUUM) to let it shrink from now on; writers waited ${r.longestBlockMs} ms`)
        ctx.out(
          `size ${formatBytes(r.bytesBefore)} → ${formatBytes(r.bytesAfter)} in ${r.steps} step(s); the longest held writers for ${r.longestBlockMs} ms`,
        )
      }
    }
    return EXIT.ok
  },
}
