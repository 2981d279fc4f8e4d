// Starts the daemon and the API server on one fresh store, lets both write at full speed at the
// same time, then checks that every write either of them was told had succeeded is in the store,
// that each role's write to the other's collection was refused with NOT_OWNER, and that the
// daemon saw the server's new projects without any reload.
import { join } from 'node:path'
import { openStore } from 'tandemdb'
import { Checks, Child, makeDataDir, parseCliJson, runCli, runMain } from '../shared/processes.ts'
import type { DaemonMessage } from './daemon.ts'
import type { ServerMessage } from './server.ts'
import definition from './store.ts'

const WRITES = Number(process.env.WRITES ?? 600)

runMain(90_000, async () => {
  const dataDir = makeDataDir('daemon-and-server')
  const env = { APP_DATA_DIR: dataDir, WRITES: String(WRITES) }
  console.log(`Store in ${dataDir}; a daemon and a server each write ${WRITES} times, at the same time.`)

  const daemon = new Child<DaemonMessage>('daemon', join(import.meta.dirname, 'daemon.ts'), env)
  const server = new Child<ServerMessage>('server', join(import.meta.dirname, 'server.ts'), env)
  await Promise.all([daemon.next('ready'), server.next('ready')])
  daemon.send({ type: 'go' })
  server.send({ type: 'go' })
  const [fromDaemon, fromServer] = await Promise.all([daemon.next('done'), server.next('done')])
  await Promise.all([daemon.succeeded(), server.succeeded()])

  // Any role may read; one that writes nothing is declared in roles. The checker reads what both
  // wrote, from the file, after both have exited.
  const store = await openStore({ ...definition, dataDir, roles: { ...definition.roles, checker: {} }, role: 'checker' })
  const checks = new Checks()
  const missing = async (name: 'sessions' | 'projects' | 'calendars', acked: string[]) => {
    const stored = new Set((await store.collection(name).find()).map((r) => r.id))
    const lost = acked.filter((id) => !stored.has(id)).length
    checks.check(lost === 0 && stored.size === acked.length, `${name}: ${acked.length} acknowledged, ${stored.size} stored, ${lost} lost`)
  }
  await missing('sessions', fromDaemon.acked)
  await missing('projects', fromServer.projects)
  await missing('calendars', fromServer.calendars)
  const general = await store.collection('settings').get('general')
  checks.check(
    general?.version === 1 + fromServer.settingsWrites,
    `settings/general: seeded once, then ${fromServer.settingsWrites} changes (version ${general?.version})`,
  )

  checks.check(fromDaemon.refused === 'NOT_OWNER', `the daemon's write to "projects" was refused with ${fromDaemon.refused}`)
  checks.check(fromServer.refused === 'NOT_OWNER', `the server's write to "sessions" was refused with ${fromServer.refused}`)
  const foreign =
    (await store.collection('projects').count({ $role: { ne: 'server' } })) +
    (await store.collection('sessions').count({ $role: { ne: 'daemon' } }))
  checks.check(foreign === 0, `no record was written by a role that does not own its collection (${foreign} found)`)

  // The daemon attributed its sessions to the newest project it could see: many different ones,
  // all real, because it reads the server's commits instead of a copy made at startup.
  const sessions = await store.collection('sessions').find()
  const projectIds = new Set((await store.collection('projects').find()).map((r) => r.id))
  const referenced = new Set(sessions.map((s) => s.data.projectId).filter((id) => id !== null))
  const dangling = [...referenced].filter((id) => !projectIds.has(id)).length
  checks.check(
    referenced.size > 1 && dangling === 0,
    `the daemon saw the server's projects as they were created: its sessions name ${referenced.size} different projects, ${dangling} unknown`,
  )
  const integrity = await store.checkIntegrity()
  checks.check(integrity.join() === 'ok', `integrity_check: ${integrity.join('; ')}`)
  await store.close()

  // The CLI reads the same definition (tandem.config.ts re-exports store.ts): the ownership matrix.
  const status = await runCli(['status', '--json'], { cwd: import.meta.dirname, env })
  const { matrix } = parseCliJson<{ ownership: { matrix: Record<string, Record<string, boolean>> } }>(status).ownership
  for (const [collection, roles] of Object.entries(matrix))
    console.log(
      `  tandem status: ${collection.padEnd(10)} written by ${Object.keys(roles)
        .filter((r) => roles[r])
        .join(', ')}`,
    )
  checks.check(
    matrix.projects?.server === true &&
      matrix.projects.daemon === false &&
      matrix.sessions?.daemon === true &&
      matrix.sessions.server === false,
    `tandem status shows the same ownership (exit ${status.code})`,
  )

  const total = fromDaemon.acked.length + fromServer.projects.length + fromServer.calendars.length + fromServer.settingsWrites
  await checks.finish(
    `${total} writes from 2 processes at the same time, none lost; each role's write to the other's collection refused with NOT_OWNER`,
  )
})
