// Reads the fenced code blocks of README.md and docs/*.md and turns them into things to check:
// TypeScript/JavaScript programs, shell scripts, JSON documents. The rules are described at the
// top of docs-blocks.test.ts; this module only parses and assembles.
import { readFileSync, readdirSync } from 'node:fs'
import { basename, extname, join } from 'node:path'

/** One fenced block of a markdown file. */
export interface DocBlock {
  /** The markdown file, relative to the repository: 'README.md', 'docs/changes.md'. */
  file: string
  /** The line of the opening fence, 1-based. */
  line: number
  /** The first word of the info string, lower case ('' when there is none). */
  lang: string
  /** The other words of the info string: 'fragment', 'continued'. */
  flags: readonly string[]
  /** The block's lines, the fence's indentation removed. */
  lines: readonly string[]
  /** A `<!-- docs-check setup ... -->` comment right before the block: code run first. */
  setup?: { lines: readonly string[]; line: number }
}

export type BlockKind = 'program' | 'shell' | 'python' | 'json' | 'fragment' | 'unchecked'

const PROGRAM_LANGS = new Set(['ts', 'typescript', 'js', 'javascript', 'mjs'])
const SHELL_LANGS = new Set(['sh', 'bash', 'shell'])
const PYTHON_LANGS = new Set(['python', 'py'])
const JSON_LANGS = new Set(['json', 'jsonc'])

export function kindOf(block: DocBlock): BlockKind {
  if (block.flags.includes('fragment')) return 'fragment'
  if (PROGRAM_LANGS.has(block.lang)) return 'program'
  if (SHELL_LANGS.has(block.lang)) return 'shell'
  if (PYTHON_LANGS.has(block.lang)) return 'python'
  if (JSON_LANGS.has(block.lang)) return 'json'
  return 'unchecked'
}

export function label(block: Pick<DocBlock, 'file' | 'line'>): string {
  return `${block.file}:${block.line}`
}

/** README.md and every docs/*.md, in that order. */
export function docFiles(root: string): string[] {
  const docs = readdirSync(join(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/${name}`)
  return ['README.md', ...docs]
}

const OPEN_FENCE = /^(\s*)(`{3,}|~{3,})(.*)$/
const SETUP_START = /^\s*<!--\s*docs-check setup\b/

/** Every fenced block of one markdown file (CommonMark fences: ``` or ~~~, possibly indented). */
export function parseBlocks(root: string, file: string): DocBlock[] {
  const text = readFileSync(join(root, file), 'utf8').split('\n')
  const blocks: DocBlock[] = []
  for (let i = 0; i < text.length; i++) {
    const open = OPEN_FENCE.exec(text[i]!)
    if (open === null) continue
    const [, indent = '', fence = '', info = ''] = open
    if (fence.startsWith('`') && info.includes('`')) continue
    const close = new RegExp(`^\\s*${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`)
    const lines: string[] = []
    let j = i + 1
    for (; j < text.length && !close.test(text[j]!); j++) lines.push(dedent(text[j]!, indent.length))
    if (j === text.length) throw new Error(`${file}:${i + 1}: the code block is never closed.`)
    const [lang = '', ...flags] = info
      .trim()
      .toLowerCase()
      .split(/\s+/)
      .filter((w) => w !== '')
    const block: DocBlock = { file, line: i + 1, lang, flags, lines }
    const setup = setupBefore(text, i)
    if (setup !== undefined) block.setup = setup
    blocks.push(block)
    i = j
  }
  return blocks
}

function dedent(line: string, width: number): string {
  let n = 0
  while (n < width && line[n] === ' ') n++
  return line.slice(n)
}

/** The `<!-- docs-check setup ... -->` comment ending right above line `fence` (blank lines between allowed). */
function setupBefore(text: readonly string[], fence: number): DocBlock['setup'] {
  let end = fence - 1
  while (end >= 0 && text[end]!.trim() === '') end--
  if (end < 0 || text[end]!.trim() !== '-->') return undefined
  let start = end - 1
  while (start >= 0 && !SETUP_START.test(text[start]!) && !text[start]!.includes('-->')) start--
  if (start < 0 || !SETUP_START.test(text[start]!)) return undefined
  const indent = /^\s*/.exec(text[start]!)![0].length
  return { lines: text.slice(start + 1, end).map((l) => dedent(l, indent)), line: start + 2 }
}

/** Where a line of a generated file came from. */
export interface LineOrigin {
  file: string
  line: number
  /** From a setup comment, not from the block a reader sees. */
  setup: boolean
}

export interface ProgramFile {
  /** The file name inside the program's folder: 'main.ts', 'daemon.ts'. */
  name: string
  lines: string[]
  origins: LineOrigin[]
}

/** One TypeScript/JavaScript program: a block, its setup, and the blocks marked `continued` after it. */
export interface Program {
  id: string
  blocks: DocBlock[]
  files: ProgramFile[]
}

/** `// name.ts` (alone, or followed by a comment) as the first line of a block: the block holds several files. */
const FILE_MARKER = /^\/\/ ([A-Za-z0-9_.-]+\.(?:ts|mts|js|mjs))(?=[\s:]|$)/

export function slug(file: string): string {
  return file
    .replace(/\.md$/, '')
    .replace(/[^A-Za-z0-9]+/g, '-')
    .toLowerCase()
}

function push(target: ProgramFile, lines: readonly string[], file: string, firstLine: number, setup: boolean): void {
  lines.forEach((text, k) => {
    target.lines.push(text)
    target.origins.push({ file, line: firstLine + k, setup })
  })
}

/**
 * Groups the program blocks of one markdown file into programs: each block starts one, except a
 * block flagged `continued`, which is appended to the program before it. A block whose first line
 * is `// name.ts` is split into files at every such line.
 */
export function assemblePrograms(blocks: readonly DocBlock[]): Program[] {
  const programs: Program[] = []
  for (const block of blocks) {
    if (kindOf(block) !== 'program') continue
    const js = block.lang.startsWith('j') || block.lang === 'mjs'
    if (block.flags.includes('continued')) {
      const previous = programs.at(-1)
      if (previous === undefined)
        throw new Error(`${label(block)}: a block marked "continued" needs a program block before it in the same file.`)
      const target = previous.files.at(-1)!
      if (block.setup !== undefined) push(target, block.setup.lines, block.file, block.setup.line, true)
      push(target, block.lines, block.file, block.line + 1, false)
      previous.blocks.push(block)
      continue
    }
    const program: Program = { id: `${slug(block.file)}-${block.line}`, blocks: [block], files: [] }
    if (FILE_MARKER.test(block.lines[0] ?? '')) {
      if (block.setup !== undefined)
        throw new Error(`${label(block)}: a block of several files cannot have a setup comment; add the setup as one more file.`)
      block.lines.forEach((text, k) => {
        const marker = FILE_MARKER.exec(text)
        if (marker !== null && (k === 0 || block.lines[k - 1]!.trim() === ''))
          program.files.push({ name: marker[1]!, lines: [], origins: [] })
        push(program.files.at(-1)!, [text], block.file, block.line + 1 + k, false)
      })
    } else {
      const file: ProgramFile = { name: js ? 'main.mjs' : 'main.ts', lines: [], origins: [] }
      if (block.setup !== undefined) push(file, block.setup.lines, block.file, block.setup.line, true)
      push(file, block.lines, block.file, block.line + 1, false)
      program.files.push(file)
    }
    programs.push(program)
  }
  return programs
}

/** The JavaScript file tsc writes for a program file. */
export function outputName(name: string): string {
  const ext = extname(name)
  const base = basename(name, ext)
  return ext === '.mts' || ext === '.mjs' ? `${base}.mjs` : `${base}.js`
}

/** The program's files that no other file of it imports: each runs as a process of its own. */
export function entryFiles(program: Program): ProgramFile[] {
  const imported = new Set<string>()
  for (const file of program.files) {
    for (const match of file.lines.join('\n').matchAll(/(?:from\s+|import\s*\(\s*)['"]\.\/([A-Za-z0-9_.-]+)['"]/g)) imported.add(match[1]!)
  }
  return program.files.filter((file) => !imported.has(outputName(file.name)) && !imported.has(file.name))
}

/** Where a line of a generated file came from, as `README.md:42` (`(setup)` for a setup comment's line). */
export function describeOrigin(origin: LineOrigin | undefined): string {
  if (origin === undefined) return '(generated code)'
  return `${origin.file}:${origin.line}${origin.setup ? ' (setup comment)' : ''}`
}

/** Removes // and /* *\/ comments outside strings, so JSONC parses as JSON. */
export function stripJsonComments(text: string): string {
  let out = ''
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (inString) {
      out += c
      if (c === '\\') out += text[++i] ?? ''
      else if (c === '"') inString = false
    } else if (c === '"') {
      inString = true
      out += c
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++
      out += '\n'
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2)
      i = end === -1 ? text.length : end + 1
    } else {
      out += c
    }
  }
  return out
}
