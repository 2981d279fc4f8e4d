import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { closeSync, fsyncSync, openSync, readFileSync, statSync, writeSync } from 'node:fs'
import { TandemError } from '../errors.js'
import { ROLE } from '../store/config.js'
import { createTempBeside, removeQuietly, renameDurably } from '../fs/durable-file.js'

/** One token as the file keeps it: never the secret, only its SHA-256. */
export interface TokenEntry {
  id: string
  name: string
  role: string
  /** Hex SHA-256 of the secret. */
  sha256: string
  createdAt: string
}

/** What `token list` shows: everything but the hash. */
export type TokenInfo = Omit<TokenEntry, 'sha256'>

interface TokenFileData {
  version: 1
  tokens: TokenEntry[]
}

const NAME = /^[A-Za-z0-9_.:-]{1,64}$/

/** Where a store's tokens live by default: beside its file. */
export function defaultTokensFile(storeFile: string): string {
  return `${storeFile}.tokens.json`
}

function hash(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest()
}

function read(path: string): TokenFileData {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, tokens: [] }
    throw error
  }
  const data = JSON.parse(text) as TokenFileData
  if (data === null || typeof data !== 'object' || !Array.isArray(data.tokens))
    throw new TandemError('INVALID_DATA', `${path} is not a token file.`, { hint: 'Move it away; tandem token create starts a new one.' })
  return data
}

/** Writes the whole file again: a temp file (0600), fsynced, renamed over the old one. */
function write(path: string, data: TokenFileData): void {
  const temp = createTempBeside(path)
  try {
    const fd = openSync(temp, 'w', 0o600)
    try {
      writeSync(fd, `${JSON.stringify(data, null, 2)}\n`)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameDurably(temp, path)
  } catch (error) {
    removeQuietly(temp)
    throw error
  }
}

/**
 * Creates a token for `role` and returns its secret: the only time it exists outside the caller.
 * The file keeps its SHA-256 (256 random bits: a fast hash is enough, nothing to brute-force).
 */
export function createToken(path: string, role: string, name?: string): { secret: string; token: TokenInfo } {
  if (typeof role !== 'string' || !ROLE.test(role))
    throw new TypeError(`--role must be a role name: 1 to 64 letters, digits or _ . : - (got ${JSON.stringify(role)}).`)
  const data = read(path)
  const id = `tok_${randomBytes(6).toString('hex')}`
  const tokenName = name ?? id
  if (!NAME.test(tokenName)) throw new TypeError(`--name must be 1 to 64 letters, digits or _ . : - (got ${JSON.stringify(name)}).`)
  if (data.tokens.some((t) => t.name === tokenName))
    throw new TandemError('DUPLICATE_ID', `A token named "${tokenName}" exists already.`, {
      hint: 'Pick another --name, or revoke the old token first.',
    })
  const secret = `tdm_${randomBytes(32).toString('base64url')}`
  const entry: TokenEntry = { id, name: tokenName, role, sha256: hash(secret).toString('hex'), createdAt: new Date().toISOString() }
  write(path, { version: 1, tokens: [...data.tokens, entry] })
  const { sha256: _hash, ...token } = entry
  return { secret, token }
}

/** Every token of the file, without hashes. */
export function listTokens(path: string): TokenInfo[] {
  return read(path).tokens.map(({ sha256: _hash, ...info }) => info)
}

/** Removes the token with this id or name; resolves with it, or undefined when there was none. */
export function revokeToken(path: string, idOrName: string): TokenInfo | undefined {
  const data = read(path)
  const found = data.tokens.find((t) => t.id === idOrName || t.name === idOrName)
  if (found === undefined) return undefined
  write(path, { version: 1, tokens: data.tokens.filter((t) => t !== found) })
  const { sha256: _hash, ...info } = found
  return info
}

/** Where a server looks tokens up: a token file (TokenVerifier), or the inspector's one token held in memory. */
export interface TokenSource {
  /** How many tokens exist now. */
  readonly size: number
  /** The role of the token whose secret this is, or undefined. */
  roleOf(secret: string): string | undefined
  /**
   * Looks again whether tokens were created or revoked (TokenVerifier: one stat of the file) and
   * returns a number that differs from every earlier answer once they were: a role found by
   * roleOf stays valid while this number stays the same.
   */
  generation(): number
}

/**
 * The server's view of a token file: it re-reads the file whenever its size, mtime or inode
 * change (one stat per request), so tokens created or revoked while the server runs take effect
 * on the next request.
 */
export class TokenVerifier implements TokenSource {
  readonly path: string
  #stamp = ''
  #generation = 0
  #hashes: { hash: Buffer; role: string }[] = []

  constructor(path: string) {
    this.path = path
    this.#reload()
  }

  /** How many tokens exist now. */
  get size(): number {
    this.#reload()
    return this.#hashes.length
  }

  /**
   * The role of the token whose secret this is, or undefined. Every stored hash is compared, in
   * constant time, whether or not an earlier one matched: the time taken says nothing of which.
   */
  roleOf(secret: string): string | undefined {
    this.#reload()
    const presented = hash(secret)
    let role: string | undefined
    for (const entry of this.#hashes) if (timingSafeEqual(entry.hash, presented) && role === undefined) role = entry.role
    return role
  }

  generation(): number {
    this.#reload()
    return this.#generation
  }

  #reload(): void {
    let stamp: string
    try {
      const s = statSync(this.path, { throwIfNoEntry: false })
      stamp = s === undefined ? 'none' : `${s.ino}:${s.size}:${s.mtimeMs}`
    } catch {
      stamp = 'none'
    }
    if (stamp === this.#stamp) return
    const data = stamp === 'none' ? { tokens: [] } : read(this.path)
    this.#hashes = data.tokens
      .filter((t) => typeof t.sha256 === 'string' && /^[0-9a-f]{64}$/.test(t.sha256))
      .map((t) => ({ hash: Buffer.from(t.sha256, 'hex'), role: t.role }))
    this.#stamp = stamp
    this.#generation++
  }
}
