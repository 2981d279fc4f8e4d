import { expect, test } from 'vitest'
import { newId } from '../../src/store/ids.js'

test('new ids are ULIDs: strictly increasing within a process, distinct, and their random part uses all 32 characters', () => {
  const ids = Array.from({ length: 20_000 }, () => newId())
  for (const id of ids) expect(id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/)
  for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true)
  expect(new Set(ids).size).toBe(ids.length)
  // The first id of a millisecond gets 16 fresh random characters (later ones increment them).
  const randomChars = new Set<string>()
  for (let i = 0; i < 100; i++) {
    const ms = Date.now()
    while (Date.now() === ms) {
      // wait for the next millisecond
    }
    for (const c of newId().slice(10)) randomChars.add(c)
  }
  expect(randomChars.size).toBe(32)
})
