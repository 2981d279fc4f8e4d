import { SECRET_PARAMS, isPostgresUrl, maskUrl, normalizePostgresUrl } from '../backends/postgres/postgres-url.js'

export { isPostgresUrl, maskUrl, normalizePostgresUrl }

/** A PostgreSQL url anywhere in a text (an error message may quote one, JSON-escaped or not). */
const POSTGRES_URL_IN_TEXT = /postgres(?:ql)?:\/\/(?:\\.|[^\s"'`<>\\])*/gi

/** Passwords of the urls this process was given, masked wherever they appear (see maskUrlsIn). */
const secrets = new Set<string>()
/** Shorter secrets are masked only inside a url: replacing every "ab" in a message would garble it. */
const MIN_LOOSE_SECRET = 4

/** Notes the passwords in `url`, so that maskUrlsIn hides them even outside a recognisable url. */
export function rememberSecrets(url: string): void {
  const user = /^[a-z][a-z0-9+.-]*:\/\/([^?]*)@/i.exec(url)?.[1]
  const password = user === undefined || !user.includes(':') ? undefined : user.slice(user.indexOf(':') + 1)
  const found = [password, ...[...url.matchAll(SECRET_PARAMS)].map((m) => m[0].slice(m[1]!.length))]
  for (const secret of found) {
    if (secret === undefined || secret.length < MIN_LOOSE_SECRET) continue
    secrets.add(secret)
    try {
      secrets.add(decodeURIComponent(secret))
    } catch {
      // Not percent-encoded: the raw form is the one to hide.
    }
  }
}

/** `text` with every PostgreSQL url in it masked (see maskUrl), and every remembered password: for messages. */
export function maskUrlsIn(text: string): string {
  let masked = text.replace(POSTGRES_URL_IN_TEXT, (url) => maskUrl(url))
  for (const secret of secrets) masked = masked.split(secret).join('***')
  return masked
}
