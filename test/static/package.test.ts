import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect, test } from 'vitest'

const root = join(import.meta.dirname, '../..')
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  exports: Record<string, { import?: string; types?: string } | string>
  bin: Record<string, string>
}

test('every entry point in package.json is packed and imports', async () => {
  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }),
  ) as { files: { path: string }[] }[]
  const files = new Set(packed[0]!.files.map((f) => f.path))
  for (const [name, target] of Object.entries(pkg.exports)) {
    if (typeof target === 'string') continue
    expect(files.has(target.import!.replace(/^\.\//, '')), `${name} → ${target.import}`).toBe(true)
    expect(files.has(target.types!.replace(/^\.\//, '')), `${name} types`).toBe(true)
    const module = (await import(join(root, target.import!))) as Record<string, unknown>
    expect(Object.keys(module).length, name).toBeGreaterThan(0)
  }
  expect([...files].some((f) => f.startsWith('test/'))).toBe(false)
  const bin = pkg.bin.tandem!.replace(/^\.\//, '')
  expect(files.has(bin)).toBe(true)
  expect(readFileSync(join(root, bin), 'utf8').startsWith('#!/usr/bin/env node')).toBe(true)
})

test('the bin prints its version', () => {
  const out = execFileSync(process.execPath, [join(root, pkg.bin.tandem!), '--version'], { encoding: 'utf8' })
  expect(out.trim()).toBe((JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version)
})
