import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect, test } from 'vitest'

/**
 * Backup, restore, export and import handle files next to a live store. Closing any descriptor on
 * the database, -wal or -shm file drops every SQLite lock this process holds on it, so these
 * modules may use path-only fs calls (stat, rename, unlink, mkdir...) freely, but open
 * descriptors only where the file is known not to be a store file: temp files they create, or a
 * user-given path that refuseStoreFiles() has checked first. (test/static guards src/store and
 * src/backends/sqlite the same way.)
 */
const PATH_ONLY = new Set([
  'statSync',
  'lstatSync',
  'realpathSync',
  'mkdirSync',
  'readdirSync',
  'rmSync',
  'renameSync',
  'chmodSync',
  'stat',
])
const OPENS: Record<string, { names: string[]; why: string; checks?: boolean }> = {
  'src/fs/durable-file.ts': {
    names: ['openSync', 'closeSync', 'fsyncSync', 'writeFileSync'],
    why: 'creates and fsyncs temp files and directories',
  },
  'src/transfer/export.ts': { names: ['open'], why: 'writes the temp file of an export', checks: true },
  'src/transfer/import.ts': { names: ['open', 'FileHandle'], why: 'reads the import file', checks: true },
  'src/transfer/legacy-json.ts': { names: ['readFile'], why: 'reads the JSON file', checks: true },
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  )
}

test('backup, restore, export and import open descriptors only on temp files or checked user paths', () => {
  const offenders: string[] = []
  for (const file of [...sourceFiles('src/backup'), ...sourceFiles('src/transfer'), 'src/fs/durable-file.ts']) {
    const text = readFileSync(file, 'utf8')
    const allowed = OPENS[file]
    for (const match of text.matchAll(/import\s+(?:\*\s+as\s+\w+|\{([^}]*)\}|\w+)\s+from\s+'node:fs(?:\/promises)?'/g)) {
      const names = match[1]
        ?.split(',')
        .map(
          (n) =>
            n
              .trim()
              .replace(/^type\s+/, '')
              .split(/\s+as\s+/)[0]!,
        )
        .filter(Boolean)
      if (names === undefined) offenders.push(`${file}: imports the whole fs module`)
      else
        for (const name of names)
          if (!PATH_ONLY.has(name) && !allowed?.names.includes(name)) offenders.push(`${file}: imports ${name} from fs`)
    }
    if (allowed?.checks === true && !text.includes('refuseStoreFiles('))
      offenders.push(`${file}: ${allowed.why} without refuseStoreFiles()`)
  }
  expect(offenders).toEqual([])
})
