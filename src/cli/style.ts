const CODES = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  cyan: [36, 39],
} as const

export type Style = keyof typeof CODES
export type Paint = (text: string, style: Style) => string

/**
 * Colours are for people at a terminal: only when the stream is a TTY, never when NO_COLOR is set
 * to anything non-empty (no-color.org) or TERM is "dumb". Pipes, files and --json get plain text.
 */
export function colorEnabled(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false
  if (env.TERM === 'dumb') return false
  return stream.isTTY === true
}

/** A function that wraps text in ANSI codes when `enabled`, and returns it unchanged otherwise. */
export function painter(enabled: boolean): Paint {
  if (!enabled) return (text) => text
  return (text, style) => `\x1b[${CODES[style][0]}m${text}\x1b[${CODES[style][1]}m`
}
