import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect, test } from 'vitest'

// docs/errors.md is the one table of error codes. Every code the source can raise must be in it,
// and nothing may be listed that the source no longer raises.
const root = join(import.meta.dirname, '../..')
const read = (path: string) => readFileSync(join(root, path), 'utf8')

function sourceFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .map((f) => join(dir, f))
}

function codesRaised(): Set<string> {
  const union = /export type TandemErrorCode =([^;]*?)\n\n/s.exec(read('src/errors.ts'))?.[1] ?? ''
  const codes = new Set([...union.matchAll(/'([A-Z_]+)'/g)].map((m) => m[1]!))
  for (const file of sourceFiles('src')) {
    const text = read(file)
    for (const m of text.matchAll(/new CliError\(\s*'([A-Z_]+)'/g)) codes.add(m[1]!)
    for (const m of text.matchAll(/\{\s*code: '([A-Z_]+)' as const\s*\}/g)) codes.add(m[1]!)
  }
  codes.add('USAGE').add('INTERNAL') // the CLI's own outcomes for bad usage and unexpected failures (src/cli/output.ts)
  codes.delete('EPIPE') // a reader that went away: the CLI stops quietly, nothing is reported
  return codes
}

test('every error code the source raises is in the table of docs/errors.md, and the table lists no other', () => {
  const documented = new Set([...read('docs/errors.md').matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]!))
  const raised = codesRaised()
  expect(raised.size).toBeGreaterThan(30)
  expect([...raised].filter((c) => !documented.has(c)).sort(), 'raised but not in docs/errors.md').toEqual([])
  expect([...documented].filter((c) => !raised.has(c)).sort(), 'in docs/errors.md but never raised').toEqual([])
})
