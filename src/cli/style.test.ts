import { expect, test } from 'vitest'
import { colorEnabled, painter } from './style.js'

test('colours only on a TTY, never with NO_COLOR set or TERM=dumb', () => {
  expect(colorEnabled({ isTTY: true }, {})).toBe(true)
  expect(colorEnabled({ isTTY: false }, {})).toBe(false)
  expect(colorEnabled({}, {})).toBe(false)
  expect(colorEnabled({ isTTY: true }, { NO_COLOR: '1' })).toBe(false)
  expect(colorEnabled({ isTTY: true }, { NO_COLOR: '' })).toBe(true) // no-color.org: only a non-empty value counts
  expect(colorEnabled({ isTTY: true }, { TERM: 'dumb' })).toBe(false)
})

test('a disabled painter returns text unchanged; an enabled one wraps and resets it', () => {
  expect(painter(false)('ok', 'green')).toBe('ok')
  expect(painter(true)('ok', 'green')).toBe('\x1b[32mok\x1b[39m')
})
