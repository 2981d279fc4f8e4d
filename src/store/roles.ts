import { TandemError } from '../errors.js'
import { didYouMean } from './did-you-mean.js'

/** The roles listed in the `writers` of a collections config (never `'*'`). */
export type WriterRoles<C> = {
  [K in keyof C]: C[K] extends { writers: infer W } ? (W extends readonly (infer Role)[] ? Role : never) : never
}[keyof C]

/**
 * The roles a store definition names: every collection's writers and the keys of `roles` (`R`).
 * A definition that names none (every collection written by '*', no `roles`) accepts any role.
 * A config whose writers are plain `string[]` (not inferred as literals) gives `string`.
 */
export type RoleName<C, R extends string = never> = [WriterRoles<C> | R] extends [never] ? string : (WriterRoles<C> | R) & string

/** The roles named by the collections' writers and by `roles`, in the order written. */
export function knownRoles(
  collections: Iterable<{ readonly writerList: readonly string[] }>,
  roles: object | undefined,
): readonly string[] {
  const known = new Set<string>()
  for (const collection of collections) for (const writer of collection.writerList) if (writer !== '*') known.add(writer)
  for (const role of Object.keys(roles ?? {})) known.add(role)
  return Object.freeze([...known])
}

/**
 * Rejects a role the definition does not name, where it names any: a typo in `role` fails at
 * openStore, listing the known roles, rather than at the first write with NOT_OWNER.
 */
export function checkKnownRole(role: string, known: readonly string[]): void {
  if (known.length === 0 || known.includes(role)) return
  throw new TandemError(
    'UNKNOWN_ROLE',
    `Role "${role}" is not named by this store's definition.${didYouMean(role, known)} Known roles: ${known.join(', ')}. Nothing was opened.`,
    {
      hint: `Use one of the known roles, add "${role}" to a collection's writers, or declare it in roles: { "${role}": {} } (a role that only reads).`,
    },
  )
}
