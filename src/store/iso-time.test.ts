import { describe, expect, it } from 'vitest'
import { isoTime } from './iso-time.js'

describe('isoTime', () => {
  it('formats like Date.prototype.toISOString', () => {
    const samples = [0, 1, 999, 1000, 59_999, 86_399_999, 86_400_000, -1, -86_400_001, 1_733_600_000_123, 253_402_300_799_999]
    samples.push(253_402_300_800_000, -62_167_219_200_001, 8.64e15, -8.64e15)
    let seed = 7
    for (let i = 0; i < 20_000; i++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      samples.push(Math.floor((seed / 2 ** 31) * 4e12) - 1e12)
    }
    for (const ms of samples) expect(isoTime(ms)).toBe(new Date(ms).toISOString())
  })

  it('refuses what toISOString refuses', () => {
    expect(() => isoTime(Number.NaN)).toThrow(RangeError)
    expect(() => isoTime(8.64e15 + 1)).toThrow(RangeError)
  })
})
