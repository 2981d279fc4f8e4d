import { TandemError } from '../errors.js'
import type { CollectionSettings } from './config.js'

export function unknownCollection(name: string, known: Iterable<string>): TandemError {
  return new TandemError('UNKNOWN_COLLECTION', `Collection "${name}" is not declared. Declared: ${[...known].join(', ') || '(none)'}.`, {
    collection: name,
    hint: `Add "${name}" to the collections given to openStore, with its writers.`,
  })
}

/** A declared collection's settings, or UNKNOWN_COLLECTION naming the declared ones. */
export function declaredSettings(name: string, declared: ReadonlyMap<string, CollectionSettings>): CollectionSettings {
  const settings = declared.get(name)
  if (settings === undefined) throw unknownCollection(name, declared.keys())
  return settings
}

/**
 * The settings of a read-only handle on any collection that exists in the store, declared by this
 * program or not (store.reader(), for tools): no writers, so writes fail with NOT_OWNER.
 */
export function readerSettings(name: string, declared: ReadonlyMap<string, CollectionSettings>): CollectionSettings {
  const settings = declared.get(name)
  if (settings !== undefined) return { ...settings, writers: new Set<string>(), writerList: [] }
  if (!/^[A-Za-z][A-Za-z0-9_]{0,62}$/.test(name)) throw unknownCollection(name, declared.keys())
  return { name, writers: new Set<string>(), writerList: [], indexes: [], schema: undefined, history: 'changes' }
}
