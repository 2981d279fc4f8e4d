import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect, test } from 'vitest'

/**
 * SQLite keeps its locks as POSIX advisory locks, which belong to the process and the inode: if
 * any code in the process opens the database, -wal or -shm file and closes that descriptor, every
 * lock SQLite holds on it silently vanishes and another process may write over a live transaction.
 * So the code that handles store files may stat, chmod, mkdir, readlink and realpath them, never open them.
 */
const GUARDED = ['src/store', 'src/backends/sqlite', 'src/fs/safe-path.ts']
// watch: an inotify watch holds no descriptor on the watched file, so SQLite's locks are safe.
const ALLOWED = new Set(['statSync', 'lstatSync', 'chmodSync', 'mkdirSync', 'realpathSync', 'readlinkSync', 'watch', 'FSWatcher'])
/** Files that open a side file of their own, never a SQLite file, and what they may use for it. */
const OWN_SIDE_FILES: Record<string, Set<string>> = {
  // <db>-turns (waiters set its mtime to say they wait for the write lock) and <db>-commits
  // (writers set it after each commit, to wake other processes' change readers).
  [join('src', 'backends', 'sqlite', 'sqlite-side-file.ts')]: new Set(['openSync', 'futimesSync', 'closeSync']),
  // A new store is created under a temp name and hard-linked into place; link and unlink open nothing.
  [join('src', 'backends', 'sqlite', 'sqlite-create.ts')]: new Set(['linkSync', 'unlinkSync']),
}

function sourceFiles(path: string): string[] {
  if (path.endsWith('.ts')) return [path]
  return readdirSync(path, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(path, e.name)) : e.name.endsWith('.ts') ? [join(path, e.name)] : [],
  )
}

test('code that touches store files never opens them with fs', () => {
  const offenders: string[] = []
  for (const file of GUARDED.flatMap(sourceFiles)) {
    const text = readFileSync(file, 'utf8')
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
          if (!ALLOWED.has(name) && OWN_SIDE_FILES[file]?.has(name) !== true) offenders.push(`${file}: imports ${name} from fs`)
    }
    if (/require\(['"](node:)?fs/.test(text) || /from\s+'fs'/.test(text)) offenders.push(`${file}: loads fs another way`)
  }
  expect(offenders).toEqual([])
})

test('the guard notices an offending import', () => {
  const sample = "import { openSync, statSync } from 'node:fs'"
  const names = /\{([^}]*)\}/
    .exec(sample)![1]!
    .split(',')
    .map((n) => n.trim())
  expect(names.filter((n) => !ALLOWED.has(n))).toEqual(['openSync'])
})
