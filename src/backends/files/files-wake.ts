import { watch, statSync, readdirSync, type FSWatcher } from 'node:fs'
import { join } from 'node:path'
import { statIdentity, type FilesLayout } from './files-layout.js'

/** How often the fallback looks at the files when no watch event came (a watch can miss events, e.g. on network file systems). */
export const FILES_POLL_MS = 250

/**
 * Calls `onCommit` soon after any process commits (the state file is replaced on every commit)
 * and `onHandEdit` when a collection file changed (maybe a person's edit, which the backend then
 * reconciles). fs.watch makes it immediate where it works; a poll of the files' identities every
 * FILES_POLL_MS catches what it misses. Returns a function that stops watching.
 */
export function watchFiles(layout: FilesLayout, onCommit: () => void, onHandEdit: (collection: string) => void): () => void {
  const watchers: FSWatcher[] = []
  const seen = new Map<string, string>()
  const look = () => {
    const state = statIdentity(statSync(layout.state, { throwIfNoEntry: false }))
    if (seen.get('') !== state) {
      if (seen.has('')) onCommit()
      seen.set('', state)
    }
    let names: string[]
    try {
      names = readdirSync(layout.collections)
    } catch {
      return
    }
    for (const name of names) {
      if (!name.endsWith('.jsonl')) continue
      const identity = statIdentity(statSync(join(layout.collections, name), { throwIfNoEntry: false }))
      const before = seen.get(name)
      seen.set(name, identity)
      if (before !== undefined && before !== identity) onHandEdit(name.slice(0, -'.jsonl'.length))
    }
  }
  look()
  const add = (dir: string, listener: (file: string | null) => void) => {
    try {
      const watcher = watch(dir, { persistent: false }, (_event, file) => listener(file))
      watcher.on('error', () => undefined)
      watchers.push(watcher)
    } catch {
      // Not watchable here: the poll below carries on alone.
    }
  }
  add(layout.dir, (file) => {
    if (file === null || file === 'tandem-store.json') look()
  })
  add(layout.collections, () => look())
  const timer = setInterval(look, FILES_POLL_MS)
  timer.unref()
  return () => {
    clearInterval(timer)
    for (const watcher of watchers) watcher.close()
  }
}
