import type { Change, ChangeStart } from '../../index.js'
import { inline, plural, truncate } from '../format.js'
import { openReadable, requireCollection } from '../open.js'
import { TARGET_OPTIONS } from '../options.js'
import { describeTarget, resolveTarget } from '../target.js'
import { EXIT, type Command, type CommandContext } from '../output.js'
import { positionals } from '../arguments.js'
import type { Style } from '../style.js'

const OP_STYLE: Record<string, Style> = { insert: 'green', update: 'cyan', delete: 'red', trim: 'dim' }

function parseSince(value: string | boolean | undefined): ChangeStart {
  if (value === undefined || value === 'now') return 'now'
  if (value === 'beginning') return 'beginning'
  if (typeof value === 'string' && /^\d+$/.test(value) && Number.isSafeInteger(Number(value))) return Number(value)
  throw new RangeError(`--since must be now, beginning or a change seq (got ${JSON.stringify(value)}).`)
}

function changeLine(ctx: CommandContext, c: Change): string {
  const { paint } = ctx
  const head = `${paint(String(c.seq).padStart(6), 'dim')}  ${c.at}  ${paint(c.op.padEnd(6), OP_STYLE[c.op] ?? 'bold')}  ${c.collection}/${c.id}  v${c.version}  by ${c.role}`
  if (c.data === undefined) return head
  const data = inline(c.data)
  // On a terminal one change stays one line; in a pipe the data is kept whole.
  const room = process.stdout.isTTY === true ? (process.stdout.columns ?? 120) - (head.length + 2) : Number.POSITIVE_INFINITY
  return `${head}  ${room === Number.POSITIVE_INFINITY ? data : truncate(data, Math.max(20, room))}`
}

export const watch: Command = {
  name: 'watch',
  summary: 'Follow the change feed live: one line per committed change, from any process, until Ctrl-C.',
  usage: 'tandem watch [store] [--collection C[,C...]] [--id ID[,ID...]] [--since now|beginning|SEQ] [--schema S] [--config PATH] [--json]',
  options: {
    collection: { type: 'string', description: 'only changes of these collections (comma-separated)' },
    id: { type: 'string', description: 'only changes of these record ids (comma-separated)' },
    since: { type: 'string', description: 'now (default: changes committed from now on), beginning, or a seq to continue after' },
    ...TARGET_OPTIONS,
  },
  examples: [
    'tandem watch data/app.db',
    'tandem watch --collection tasks,jobs --since beginning',
    'tandem watch --json | jq -c "select(.op == \\"delete\\")"    # NDJSON: one change per line',
  ],
  async run(ctx) {
    const [argument] = positionals(ctx, [], ['store'])
    const since = parseSince(ctx.values.since)
    const list = (value: string | boolean | undefined) =>
      typeof value === 'string'
        ? value
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : undefined
    const collections = list(ctx.values.collection)
    const ids = list(ctx.values.id)
    const target = await resolveTarget(ctx, argument)
    const store = await openReadable(target)
    let delivered = 0
    try {
      for (const name of collections ?? []) await requireCollection(store, name)
      // 'now' is pinned to a seq here, so the banner can say exactly where the tail starts.
      const start = since === 'now' ? await store.backend.changeHead() : since
      const stream = store.changes({
        ...(collections === undefined ? {} : { collections }),
        ...(ids === undefined ? {} : { ids }),
        since: start,
      })
      const stop = () => stream.close()
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
      ctx.note(
        `Watching ${describeTarget(target)}${collections === undefined ? '' : ` (${collections.join(', ')})`} for changes after seq ${start === 'beginning' ? 0 : start}; Ctrl-C stops.`,
      )
      try {
        for await (const change of stream) {
          delivered++
          // NDJSON with --json: a stream has no single document; each line is one.
          process.stdout.write(`${ctx.json ? JSON.stringify(change) : changeLine(ctx, change)}\n`)
        }
      } finally {
        process.off('SIGINT', stop)
        process.off('SIGTERM', stop)
      }
    } finally {
      await store.close()
    }
    ctx.note(`Stopped after ${plural(delivered, 'change')}.`)
    return EXIT.ok
  },
}
