/*
 * Connection strings of PostgreSQL stores (engine-only: a SQLite store is a path): how to tell one,
 * spell its scheme as the driver wants, and print it without its password.
 */

/** postgres:// or postgresql://, the scheme in any case (RFC 3986: schemes are case-insensitive). */
const POSTGRES_SCHEME = /^postgres(?:ql)?:\/\//i
/** Query parameters that carry a secret. */
export const SECRET_PARAMS = /([?&](?:ssl)?password=)[^&#]*/gi

/** True when `text` is a PostgreSQL connection url (postgres:// or postgresql://, any case of scheme). */
export function isPostgresUrl(text: string): boolean {
  return POSTGRES_SCHEME.test(text)
}

/** The url with its scheme in lower case, the only spelling the driver accepts. */
export function normalizePostgresUrl(url: string): string {
  return url.replace(POSTGRES_SCHEME, (scheme) => scheme.toLowerCase())
}

/** Any `scheme://` prefix. */
const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i
/** libpq's keyword/value form: it starts with `keyword =`. */
const KEYWORD_FORM = /^\s*[a-z_]+\s*=/i
/**
 * A `password` or `sslpassword` setting in keyword/value form: `password=secret`, `password = secret`,
 * `password='se cret'`, with libpq's backslash escapes (`\'`, `\\`) in quoted and unquoted values;
 * an unterminated quote runs to the end, as libpq reads it.
 */
const KEYWORD_SECRET = /(^|\s)((?:ssl)?password\s*=\s*)(?:'(?:\\[\s\S]|[^'\\])*'?|(?:\\[\s\S]|[^\s\\])*)/gi

/**
 * The connection string fit to print: the password in `user:password@` and in `password=` /
 * `sslpassword=` query parameters replaced by ***, with or without a `scheme://`; in libpq's
 * keyword/value form (`host=h password=secret`), the values of `password` and `sslpassword`,
 * quoted or not. Works on text no URL parser accepts (a raw @ or / in the password), taking the
 * last @ before the query as the end of the user part, as parsers do. Never throws on a string.
 */
export function maskUrl(url: string): string {
  const scheme = SCHEME.exec(url)?.[0]
  if (scheme === undefined && KEYWORD_FORM.test(url)) return url.replace(KEYWORD_SECRET, '$1$2***')
  const rest = url.slice(scheme?.length ?? 0)
  const queryAt = rest.indexOf('?')
  const head = queryAt === -1 ? rest : rest.slice(0, queryAt)
  const query = queryAt === -1 ? '' : rest.slice(queryAt)
  const at = head.lastIndexOf('@')
  let authority = head
  if (at !== -1) {
    const user = head.slice(0, at)
    const colon = user.indexOf(':')
    authority = `${colon === -1 ? user : `${user.slice(0, colon)}:***`}${head.slice(at)}`
  }
  return `${scheme ?? ''}${authority}${query.replace(SECRET_PARAMS, '$1***')}`
}
