import type { Change } from '../../src/index.js'

/**
 * Takes the next `n` changes from an iterator, failing the test if they stall: no change for
 * `stallMs` (each change that arrives starts the window again, so a slow machine delivering
 * steadily never fails; a feed that stops does). Stops early after a change `last` accepts.
 */
export async function take<T>(
  iterator: AsyncIterator<Change<T>>,
  n: number,
  stallMs = 10_000,
  last: (c: Change<T>) => boolean = () => false,
): Promise<Change<T>[]> {
  const out: Change<T>[] = []
  while (out.length < n && (out.length === 0 || !last(out.at(-1)!))) {
    let timer: NodeJS.Timeout | undefined
    const stalled = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`only ${out.length} of ${n} changes arrived; none for ${stallMs} ms`)), stallMs)
    })
    try {
      const next = await Promise.race([iterator.next(), stalled])
      if (next.done === true) break
      out.push(next.value)
    } finally {
      clearTimeout(timer)
    }
  }
  return out
}
