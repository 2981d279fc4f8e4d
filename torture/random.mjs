// A small seeded PRNG, so a run can be replayed from its --seed: every process derives its own
// stream from the run seed and its name.

/** A 32-bit FNV-1a hash of a string: turns "seed/w1/3/c0" into a stream seed. */
export function hashString(text) {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** mulberry32: fast, good enough for choosing operations; not for cryptography. */
export function createRandom(seed) {
  let state = typeof seed === 'string' ? hashString(seed) : seed >>> 0
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return {
    /** A float in [0, 1). */
    next,
    /** An integer in [lo, hi]. */
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    /** One element of a non-empty array. */
    pick: (items) => items[Math.floor(next() * items.length)],
    /** True with probability p. */
    chance: (p) => next() < p,
    /** Picks a key of `weights` ({ name: weight }) in proportion to its weight. */
    weighted(weights) {
      const entries = Object.entries(weights)
      let r = next() * entries.reduce((sum, [, w]) => sum + w, 0)
      for (const [name, w] of entries) {
        if ((r -= w) < 0) return name
      }
      return entries[entries.length - 1][0]
    },
  }
}
