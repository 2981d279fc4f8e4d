import { expect, test } from 'vitest'
import { isPostgresUrl, maskUrl, maskUrlsIn, normalizePostgresUrl, rememberSecrets } from './store-url.js'

test('a store is a PostgreSQL url by its scheme, in any case; the scheme is passed on in lower case', () => {
  for (const url of ['postgres://h/db', 'postgresql://h/db', 'POSTGRES://h/db', 'PostgreSQL://h/db']) expect(isPostgresUrl(url)).toBe(true)
  for (const path of ['data/app.db', 'postgres.db', 'postgres:/h/db', './postgres://x']) expect(isPostgresUrl(path)).toBe(false)
  expect(normalizePostgresUrl('POSTGRESQL://U:P@Host/DB')).toBe('postgresql://U:P@Host/DB')
})

test('maskUrl hides the password in the user part and in password query parameters, and nothing else', () => {
  expect(maskUrl('postgres://app:s3cret@db:5432/app')).toBe('postgres://app:***@db:5432/app')
  expect(maskUrl('POSTGRESQL://app:s3cret@db/app')).toBe('POSTGRESQL://app:***@db/app')
  expect(maskUrl('postgres://app@db/app')).toBe('postgres://app@db/app')
  expect(maskUrl('postgres://db/app?user=app&password=s3cret&sslmode=require')).toBe(
    'postgres://db/app?user=app&password=***&sslmode=require',
  )
  expect(maskUrl('postgres://db/app?PASSWORD=a&sslpassword=b')).toBe('postgres://db/app?PASSWORD=***&sslpassword=***')
  // A raw @ or / in the password: the last @ before the query ends the user part.
  expect(maskUrl('postgres://app:p@ss/w@rd@db/app')).toBe('postgres://app:***@db/app')
  expect(maskUrl('data/app.db')).toBe('data/app.db')
})

test('maskUrlsIn masks urls inside messages, JSON-quoted or not, and remembered passwords anywhere', () => {
  expect(maskUrlsIn('url must be a postgres:// connection string (got "postgres://a:b\\"c@h/d").')).toBe(
    'url must be a postgres:// connection string (got "postgres://a:***@h/d").',
  )
  expect(maskUrlsIn('could not reach POSTGRES://a:xyz@h/d: refused')).toBe('could not reach POSTGRES://a:***@h/d: refused')
  rememberSecrets('postgres://a:longer%20secret@h/d')
  expect(maskUrlsIn('password "longer secret" rejected')).toBe('password "***" rejected')
})
