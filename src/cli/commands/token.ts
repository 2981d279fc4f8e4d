import { createToken, listTokens, revokeToken } from '../../server/tokens.js'
import { STORE_OPTION, SCHEMA_OPTION, CONFIG_OPTION } from '../options.js'
import { resolveTarget } from '../target.js'
import { CliError, EXIT, type Command } from '../output.js'
import { positionals } from '../arguments.js'
import { tokensFileOf } from './serve.js'
import { renderTable } from '../table.js'

export const token: Command = {
  name: 'token',
  summary: "Create, list or revoke the tokens tandem serve accepts; each maps to a role. Only a token's hash is kept.",
  usage:
    'tandem token create --role R [--name N] | tandem token list | tandem token revoke <id|name>   [--store STORE] [--tokens PATH] [--json]',
  options: {
    role: { type: 'string', description: 'create: the role requests with this token act as' },
    name: { type: 'string', description: 'create: a name to list and revoke it by (default: its id)' },
    tokens: { type: 'string', description: 'the token file (default: <store file>.tokens.json)' },
    ...STORE_OPTION,
    ...SCHEMA_OPTION,
    ...CONFIG_OPTION,
  },
  examples: [
    'TOKEN=$(tandem token create --role daemon --name python-daemon)   # the secret alone on stdout, shown once',
    'tandem token list',
    'tandem token revoke python-daemon',
  ],
  async run(ctx) {
    const [action, which] = positionals(ctx, ['action'], ['id'])
    const file = tokensFileOf(await resolveTarget(ctx, undefined), ctx.values.tokens)
    switch (action) {
      case 'create': {
        if (typeof ctx.values.role !== 'string')
          throw new TypeError('tandem token create needs --role ROLE: the role requests with the token act as.')
        const { secret, token: info } = createToken(
          file,
          ctx.values.role,
          typeof ctx.values.name === 'string' ? ctx.values.name : undefined,
        )
        if (ctx.json) ctx.result({ ...info, token: secret })
        else {
          // The secret alone on stdout, so that TOKEN=$(tandem token create ...) captures it.
          process.stdout.write(`${secret}\n`)
          ctx.note(`Created token ${info.id} "${info.name}" for role "${info.role}" in ${file}. This is the only time it is shown.`)
        }
        return EXIT.ok
      }
      case 'list': {
        const tokens = listTokens(file)
        if (ctx.json) ctx.result(tokens)
        else if (tokens.length === 0) ctx.out(`No tokens in ${file}.`)
        else
          for (const line of renderTable(
            ['id', 'name', 'role', 'created'],
            tokens.map((t) => [t.id, t.name, t.role, t.createdAt]),
            ctx.paint,
          ))
            ctx.out(line)
        return EXIT.ok
      }
      case 'revoke': {
        if (which === undefined) throw new TypeError('tandem token revoke needs the id or name of the token.')
        const gone = revokeToken(file, which)
        if (gone === undefined)
          throw new CliError('NOT_FOUND', `No token with id or name "${which}" in ${file}.`, 'List them with "tandem token list".')
        if (ctx.json) ctx.result(gone)
        else ctx.out(`Revoked token ${gone.id} "${gone.name}" (role "${gone.role}"); servers refuse it from their next request.`)
        return EXIT.ok
      }
      default:
        throw new TypeError(`tandem token takes create, list or revoke (got ${JSON.stringify(action)}).`)
    }
  },
}
