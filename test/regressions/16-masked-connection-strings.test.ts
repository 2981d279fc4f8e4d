import { expect, test } from 'vitest'
import { openStore } from '../../src/index.js'
import { checkPostgresConfig } from '../../src/backends/postgres/postgres-config.js'
import { maskUrl } from '../../src/backends/postgres/postgres-url.js'

// openStore's TypeError for a url that is not postgres:// quoted it through maskUrl, which left
// any string without a `scheme://` as it was: `u:secret@h/db` and libpq's `host=h password=secret`
// were printed whole. Every credential form libpq accepts must come out masked.

/** Every form in which libpq takes a password, and what may be printed of it. */
const CREDENTIAL_FORMS: [given: string, printed: string][] = [
  // URIs, either scheme, any case; the password in the user part or as a parameter.
  ['postgres://app:s3cret@db:5432/app', 'postgres://app:***@db:5432/app'],
  ['POSTGRESQL://app:s3cret@db/app', 'POSTGRESQL://app:***@db/app'],
  [
    'postgresql://app:p%40ss@db1,db2:5433/app?target_session_attrs=read-write',
    'postgresql://app:***@db1,db2:5433/app?target_session_attrs=read-write',
  ],
  ['postgres://db/app?user=app&password=s3cret&sslmode=require', 'postgres://db/app?user=app&password=***&sslmode=require'],
  ['postgres://db/app?sslpassword=k3y', 'postgres://db/app?sslpassword=***'],
  ['mysql://app:s3cret@db/app', 'mysql://app:***@db/app'],
  // No scheme: the user part and parameters are still masked.
  ['app:s3cret@db/app', 'app:***@db/app'],
  ['app:p@ss/w@rd@db:5432/app?password=s3cret', 'app:***@db:5432/app?password=***'],
  // libpq keyword/value: bare, spaced, quoted, quoted with escapes, unterminated, sslpassword.
  ['host=db password=s3cret dbname=app', 'host=db password=*** dbname=app'],
  ['password=s3cret', 'password=***'],
  ['host=db password = s3cret user=app', 'host=db password = *** user=app'],
  ["host=db password='se cret' user=app", 'host=db password=*** user=app'],
  ["host=db password='it\\'s a \\\\ s3cret' user=app", 'host=db password=*** user=app'],
  ['host=db password=back\\ slash user=app', 'host=db password=*** user=app'],
  ["host=db password='never closed user=app", 'host=db password=***'],
  ['host=db sslpassword=k3y sslkey=/k.pem', 'host=db sslpassword=*** sslkey=/k.pem'],
]

test('maskUrl hides the password in every form libpq accepts, with or without a scheme', () => {
  for (const [given, printed] of CREDENTIAL_FORMS) expect(maskUrl(given), given).toBe(printed)
})

test('maskUrl leaves text without a password as it is', () => {
  for (const text of ['data/app.db', 'postgres://app@db/app', 'host=db user=app dbname=app', 'app@db/app', ''])
    expect(maskUrl(text)).toBe(text)
})

const SECRETS = ['s3cret', 'k3y', 'se cret', "it\\'s a", 'back\\ slash', 'never closed', 'p%40ss', 'w@rd']

test('openStore rejects a url that is not postgres:// without printing its password, in every form libpq takes one', async () => {
  for (const [given] of CREDENTIAL_FORMS) {
    // Without its postgres:// (if it had one), so openStore refuses it and quotes it.
    const url = given.replace(/^postgres(ql)?:\/\//i, '')
    const error = await openStore({ url, role: 'app', collections: {} }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error, url).toBeInstanceOf(TypeError)
    const message = (error as TypeError).message
    expect(message).toMatch(/^url must be a postgres:\/\/ connection string \(got "/)
    for (const secret of SECRETS) expect(message, url).not.toContain(secret)
  }
})

test("openPostgresBackend's config check quotes a url that is not postgres:// masked too", () => {
  for (const [given] of CREDENTIAL_FORMS) {
    const url = given.replace(/^postgres(ql)?:\/\//i, '')
    let message = ''
    try {
      checkPostgresConfig({ url, schema: 'tandem', poolSize: 4, busyTimeoutMs: 1000, durability: 'full' } as Parameters<
        typeof checkPostgresConfig
      >[0])
    } catch (error) {
      message = (error as Error).message
    }
    expect(message, url).toMatch(/^url must be a postgres:\/\/ connection string/)
    for (const secret of SECRETS) expect(message, url).not.toContain(secret)
  }
})
