// Did-you-mean for names the user typed: the store suggests fields and roles, the CLI commands,
// options and collections, all with the same measure of "near".

/**
 * The edit distance between two words: insertions, deletions, substitutions and swaps of two
 * neighbouring letters each count 1 (optimal string alignment), so "stauts" is 1 from "status".
 */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  )
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1)
      rows[i]![j] = d
    }
  }
  return rows[a.length]![b.length]!
}

/**
 * The candidate nearest to `given` (case ignored), if it is near enough to be a typo: at most a
 * third of the longer word's letters off (rounded up), or a candidate that starts with it (three
 * letters or more). Ties go to the first candidate.
 */
export function closest(given: string, candidates: Iterable<string>): string | undefined {
  const word = given.toLowerCase()
  let best: { name: string; distance: number } | undefined
  for (const name of candidates) {
    const lower = name.toLowerCase()
    const distance = word.length >= 3 && lower.startsWith(word) ? 0.5 : editDistance(word, lower)
    if (distance <= Math.ceil(Math.max(word.length, lower.length) / 3) && (best === undefined || distance < best.distance))
      best = { name, distance }
  }
  return best?.name
}

/** ' Did you mean "status"?' when one candidate is near `given`, else ''. `quote` spells the suggestion. */
export function didYouMean(given: string, candidates: Iterable<string>, quote: (name: string) => string = (name) => `"${name}"`): string {
  const match = closest(given, candidates)
  return match === undefined ? '' : ` Did you mean ${quote(match)}?`
}
