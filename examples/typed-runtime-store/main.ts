// The life of an app's typed store, in order: version 1 of the app leaves data behind; the
// current version's two processes start together and migrate it (once); both write at full
// speed, past the retention limits; then the checks: retention archived what it trimmed, seeds
// respected the user's changes, cursor pagination is stable under inserts, and an export imports
// into a fresh store record for record.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { openStore } from 'tandemdb'
import { checksumStore, exportStore, importStore } from 'tandemdb/lifecycle'
import { Checks, Child, makeDataDir, parseCliJson, runCli, runMain } from '../shared/processes.ts'
import type { AgentsMessage } from './agents.ts'
import type { LegacyMessage } from './legacy.ts'
import type { ServerMessage } from './server.ts'
import definition, { migrations, STARTER_HABITS } from './store.ts'

/** The ids archived for a collection: every line of archive/<collection>/*.ndjson. */
function archivedIds(dataDir: string, collection: string): Set<string> {
  const folder = join(dataDir, 'archive', collection)
  const ids = new Set<string>()
  if (!existsSync(folder)) return ids
  for (const file of readdirSync(folder)) {
    for (const line of readFileSync(join(folder, file), 'utf8').split('\n'))
      if (line.trim() !== '') ids.add((JSON.parse(line) as { id: string }).id)
  }
  return ids
}

runMain(120_000, async () => {
  const dataDir = makeDataDir('typed-runtime-store')
  const env = { APP_DATA_DIR: dataDir }
  const here = import.meta.dirname
  const checks = new Checks()
  console.log(`Store in ${dataDir}.`)

  // 1. Version 1 of the app leaves its data.
  const legacy = new Child<LegacyMessage>('app v1', join(here, 'legacy.ts'), env)
  const old = await legacy.next('done')
  await legacy.succeeded()

  // 2. The current version: two processes open the old store at the same moment.
  const server = new Child<ServerMessage>('server', join(here, 'server.ts'), env)
  const agents = new Child<AgentsMessage>('agents', join(here, 'agents.ts'), env)
  const opened = await Promise.all([server.next('ready'), agents.next('ready')])
  for (const migration of migrations) {
    const applied = opened.filter((o) => o.migrations.some((m) => m.version === migration.version && m.status === 'applied')).length
    checks.check(
      applied === 1,
      `migration ${migration.version} "${migration.name}" ran exactly once though 2 processes opened the store together (${applied})`,
    )
  }

  // 3. Both write at once, well past the retention limits.
  server.send({ type: 'go' })
  agents.send({ type: 'go' })
  const [served, acted] = await Promise.all([server.next('done'), agents.next('done')])
  await Promise.all([server.succeeded(), agents.succeeded()])

  let store = await openStore({ ...definition, dataDir, role: 'server' })
  const journal = await store.collection('journalEntries').find()
  const deadlines = await store.collection('deadlines').find()
  const migrated =
    journal.filter((e) => Array.isArray(e.data.photos)).length +
    deadlines.filter((d) => typeof d.data.dueAt === 'string' && !('due' in d.data)).length
  checks.check(
    migrated === journal.length + deadlines.length && journal.length >= old.journalEntries && deadlines.length === old.deadlines + 20,
    `all ${old.journalEntries} old journal entries have photos and all ${old.deadlines} old deadlines have dueAt, like the new ones`,
  )
  checks.check(served.refused === 'SCHEMA_INVALID', `a write the schema refuses (and tsc too) fails with ${served.refused}`)

  // 4. Retention: apply every limit now (it also runs by itself every 100 writes of a process).
  const beforeCompact = {
    agentEvents: await store.collection('agentEvents').count(),
    notifications: await store.collection('notifications').count(),
    chatMessages: await store.collection('chatMessages').count(),
  }
  const { trimmed } = await store.compact()
  let archivedTotal = 0
  for (const [collection, acked] of [
    ['agentEvents', acted.agentEvents],
    ['notifications', acted.notifications],
    ['chatMessages', served.chatMessages],
  ] as const) {
    const maxCount = definition.collections[collection].retain.maxCount
    const kept = (await store.collection(collection).find()).map((r) => r.id)
    const archived = archivedIds(dataDir, collection)
    const newest = acked.slice(-maxCount)
    const everyOne = acked.every((id) => kept.includes(id) || archived.has(id))
    archivedTotal += archived.size
    checks.check(
      kept.length === maxCount && kept.every((id, i) => id === newest[i]) && everyOne && archived.size === acked.length - maxCount,
      `${collection}: ${acked.length} written, the newest ${kept.length} kept, ${archived.size} archived before deletion, none lost (${beforeCompact[collection]} before compact() trimmed ${trimmed[collection] ?? 0} more)`,
    )
  }

  // 5. Seeds: inserted once; the user's changes stay, a deleted default stays deleted.
  const seededHabits = async () => (await store.collection('habits').find()).map((h) => h.id).sort()
  const expected = STARTER_HABITS.filter((h) => h !== 'stretch').sort()
  checks.check(
    JSON.stringify(await seededHabits()) === JSON.stringify(expected),
    `habits: the seeded ${STARTER_HABITS.join(', ')}, minus the "stretch" the user deleted`,
  )
  await store.close()
  store = await openStore({ ...definition, dataDir, role: 'server' })
  const context = await store.collection('userContext').get('current')
  checks.check(
    JSON.stringify(await seededHabits()) === JSON.stringify(expected) && context?.data.mode === 'focus' && context.data.stressLevel === 4,
    `opened again: "stretch" not re-created, userContext keeps the user's mode "${context?.data.mode}"`,
  )

  // The CLI reads the same definition (tandem.config.ts): the same migrations, the same schemas.
  const tandem = (...args: string[]) => runCli(args, { cwd: here, env })
  const dryRun = await tandem('migrate', '--dry-run', '--json')
  const plan = parseCliJson<{ migrations: { version: number; status: string }[] }>(dryRun).migrations
  checks.check(
    plan.length === migrations.length && plan.every((m) => m.status === 'not-pending'),
    `tandem migrate --dry-run knows the app's ${plan.length} migrations, none pending`,
  )
  const invalid = await tandem(
    'put',
    'goals',
    '--as',
    'server',
    '--data',
    JSON.stringify({ title: 'Run', target: -5, progress: 0 }),
    '--json',
  )
  const code = parseCliJson<{ error?: { code: string } }>(invalid).error?.code ?? `exit ${invalid.code}`
  checks.check(
    code === 'SCHEMA_INVALID' && invalid.code === 3,
    `tandem put --as server validates with the app's zod schema: a goal with target -5 is refused with ${code}`,
  )

  // 6. Chat history, newest first, a page at a time, while new messages keep arriving.
  const chat = store.collection('chatMessages')
  const before = (await chat.find({ orderBy: '-$id' })).map((m) => m.id)
  const walked: string[] = []
  let pages = 0
  let after: string | undefined
  do {
    const page = await chat.findPage({ orderBy: '-$id', limit: 50, ...(after === undefined ? {} : { after }) })
    walked.push(...page.records.map((m) => m.id))
    pages++
    after = page.next ?? undefined
    await chat.insertMany([
      { author: 'user', text: 'still there?' },
      { author: 'assistant', text: 'yes' },
    ])
  } while (after !== undefined)
  checks.check(
    JSON.stringify(walked) === JSON.stringify(before),
    `chat history: ${pages} pages of 50 gave the ${before.length} messages there were, in order, none twice, while ${2 * pages} new ones arrived`,
  )

  // 7. Export, then import into a fresh store (another machine, a reinstall), and compare.
  const file = join(dataDir, 'export.ndjson')
  const exported = await exportStore(store, { to: file })
  const again = await importStore(store, { from: file, onConflict: 'newer-version-wins', dryRun: true })
  const skipped = Object.values(again.collections).reduce((n, c) => n + c.skipped, 0)
  checks.check(
    again.records === exported.records && skipped === exported.records,
    `importing the export into its own store again would change nothing (${skipped} of ${exported.records} skipped, dry run)`,
  )
  const fresh = await openStore({ ...definition, dataDir: join(dataDir, 'reinstalled'), role: 'server' })
  const imported = await importStore(fresh, { from: file, onConflict: 'overwrite' })
  const collections = Object.keys(definition.collections)
  const [a, b] = await Promise.all([checksumStore(store, { collections }), checksumStore(fresh, { collections })])
  const differ = collections.filter((_, i) => JSON.stringify(a[i]) !== JSON.stringify(b[i]))
  // The export carries the seed history too: a default the user deleted stays deleted in the copy.
  checks.check(
    differ.length === 0,
    `export (${exported.records} records, ${exported.bytes} bytes) imported into a fresh store (${imported.records} records): every collection has the same records, versions and timestamps${differ.length > 0 ? ` (differ: ${differ.join(', ')})` : ''}`,
  )
  await Promise.all([store.close(), fresh.close()])

  await checks.finish(
    `${collections.length} typed collections; 2 migrations once; retention archived ${archivedTotal} records; seeds, pagination and export/import checked`,
  )
})
