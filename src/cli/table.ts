import type { Paint, Style } from './style.js'

/** One cell: plain text, or text with a colour applied after padding (so widths stay right). */
export type Cell = string | { text: string; style?: Style }

export interface Column {
  header: string
  align?: 'left' | 'right'
}

function textOf(cell: Cell): string {
  return typeof cell === 'string' ? cell : cell.text
}

/**
 * Lays rows out in aligned columns, two spaces apart, with a header line; returns the lines.
 * Widths are measured on the plain text, then colours are applied, so ANSI codes never skew them.
 */
export function renderTable(
  columns: readonly (string | Column)[],
  rows: readonly (readonly Cell[])[],
  paint: Paint,
  indent = '  ',
): string[] {
  const cols = columns.map((c) => (typeof c === 'string' ? { header: c } : c))
  const widths = cols.map((c, i) => Math.max(c.header.length, ...rows.map((r) => textOf(r[i] ?? '').length)))
  const pad = (text: string, i: number) => (cols[i]!.align === 'right' ? text.padStart(widths[i]!) : text.padEnd(widths[i]!))
  const line = (cells: string[]) => `${indent}${cells.join('  ')}`.trimEnd()
  const header = line(cols.map((c, i) => paint(pad(c.header, i), 'dim')))
  const body = rows.map((row) =>
    line(
      cols.map((_, i) => {
        const cell = row[i] ?? ''
        const padded = i === cols.length - 1 && cols[i]!.align !== 'right' ? textOf(cell) : pad(textOf(cell), i)
        return typeof cell === 'string' || cell.style === undefined ? padded : paint(padded, cell.style)
      }),
    ),
  )
  return [header, ...body]
}
