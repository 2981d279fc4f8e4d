import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { TokenSource } from '../server/tokens.js'

/**
 * The inspector's one token: 256 random bits made at start, held only in this process's memory
 * (never written to a file, never logged), acting as one role. It dies with the process, so the
 * URL printed at start works for this run only.
 */
export class InspectorToken implements TokenSource {
  readonly secret: string
  readonly role: string
  readonly #hash: Buffer

  constructor(role: string) {
    this.secret = `tdi_${randomBytes(32).toString('base64url')}`
    this.role = role
    this.#hash = createHash('sha256').update(this.secret, 'utf8').digest()
  }

  get size(): number {
    return 1
  }

  /** The one token never changes. */
  generation(): number {
    return 0
  }

  /** Compared as SHA-256 digests in constant time: the time taken says nothing of the secret. */
  roleOf(secret: string): string | undefined {
    const presented = createHash('sha256').update(secret, 'utf8').digest()
    return timingSafeEqual(presented, this.#hash) ? this.role : undefined
  }
}
