import { expect, test } from 'vitest'
import { closest, didYouMean, editDistance } from './did-you-mean.js'

test('editDistance counts a swap of two neighbouring letters as one edit', () => {
  expect(editDistance('status', 'status')).toBe(0)
  expect(editDistance('stauts', 'status')).toBe(1)
  expect(editDistance('fnid', 'find')).toBe(1)
  expect(editDistance('', 'abc')).toBe(3)
  expect(editDistance('kitten', 'sitting')).toBe(3)
})

test('closest suggests a near name or one the word begins, and nothing for a word far from all', () => {
  const commands = [
    'status',
    'doctor',
    'find',
    'get',
    'put',
    'patch',
    'delete',
    'watch',
    'migrate',
    'export',
    'import',
    'copy',
    'backup',
    'restore',
    'demo',
  ]
  expect(closest('stauts', commands)).toBe('status')
  expect(closest('STATUS', commands)).toBe('status')
  expect(closest('restor', commands)).toBe('restore')
  expect(closest('gte', commands)).toBe('get')
  expect(closest('frobnicate', commands)).toBeUndefined()
  expect(closest('x', commands)).toBeUndefined()
  expect(didYouMean('limt', ['limit', 'where'], (n) => `--${n}`)).toBe(' Did you mean --limit?')
  expect(didYouMean('zzz', ['limit'])).toBe('')
})
