import { expect, onTestFinished, test } from 'vitest'
import { openStore } from '../../src/index.js'
import { tempDir } from '../helpers/backends.js'
import { LAST_RESORT_TIMEOUT_MS, expectCleanExit, forkWorker, waitUntil, type WorkerHandle } from '../helpers/processes.js'

// The bug Tandem exists to fix: with sql.js every process loads the whole database into memory
// and writes its copy back to the file, so whichever process saves last silently drops what the
// other one wrote meanwhile. Here a daemon and a server write their own collections of one store
// at the same time, and every insert either of them was told succeeded must be in the file.
//
// The writers run until each has ACKS_EACH acknowledged inserts, however long that takes on this
// machine: a count of writes, not a time, so a loaded machine makes the test slower, never wrong.
// (How many inserts a second two processes manage is a benchmark's business: npm run bench.)

const ACKS_EACH = 3000
const collections = { sessions: { writers: ['daemon'], indexes: ['projectId'] }, projects: { writers: ['server'] } } as const

function ackedIds(worker: WorkerHandle): string[] {
  return worker.messages.filter((m) => m.type === 'ack').map((m) => m.id as string)
}

test(
  'a daemon and a server inserting at the same time lose none of each other’s acknowledged records',
  { timeout: LAST_RESORT_TIMEOUT_MS },
  async () => {
    const dataDir = tempDir()
    const config = (role: string) => ({ dataDir, path: 'store.db', role, collections })

    const daemon = forkWorker('inserter.mjs', { store: config('daemon'), collection: 'sessions', fields: { projectId: 'p1' } })
    const server = forkWorker('inserter.mjs', { store: config('server'), collection: 'projects', fields: { name: 'tandem' } })
    await Promise.all([daemon.waitFor('ready'), server.waitFor('ready')])
    daemon.send({ type: 'go' })
    server.send({ type: 'go' })
    // Both keep writing until both have written enough (or one of them gave up on errors).
    await waitUntil(
      () => [daemon, server].every((w) => ackedIds(w).length >= ACKS_EACH || !w.running),
      `${ACKS_EACH} acknowledged inserts from each writer`,
    )
    daemon.send({ type: 'stop' })
    server.send({ type: 'stop' })
    const [daemonDone, serverDone] = await Promise.all([daemon.waitFor('done'), server.waitFor('done')])
    await Promise.all([expectCleanExit(daemon), expectCleanExit(server)])

    const sessionIds = ackedIds(daemon)
    const projectIds = ackedIds(server)
    console.log(`stale copy: ${sessionIds.length} sessions (daemon) and ${projectIds.length} projects (server) acknowledged`)
    expect({ errorCount: daemonDone.errorCount, errors: daemonDone.errors }).toEqual({ errorCount: 0, errors: [] })
    expect({ errorCount: serverDone.errorCount, errors: serverDone.errors }).toEqual({ errorCount: 0, errors: [] })
    expect(sessionIds.length).toBe(daemonDone.acked)
    expect(projectIds.length).toBe(serverDone.acked)
    // Both really wrote, many times (the work target), while the other was writing (checked below).
    expect(sessionIds.length).toBeGreaterThanOrEqual(ACKS_EACH)
    expect(projectIds.length).toBeGreaterThanOrEqual(ACKS_EACH)

    const store = await openStore({ ...config('daemon'), roles: { reader: {} }, role: 'reader' })
    onTestFinished(() => store.close())
    const sessions = await store.collection('sessions').find()
    const projects = await store.collection('projects').find()
    const missing = (acked: string[], stored: { id: string }[]) => {
      const have = new Set(stored.map((r) => r.id))
      return acked.filter((id) => !have.has(id))
    }
    expect(missing(sessionIds, sessions)).toEqual([])
    expect(missing(projectIds, projects)).toEqual([])
    expect(sessions.length).toBe(sessionIds.length)
    expect(projects.length).toBe(projectIds.length)
    // The two writers really overlapped in time: each wrote before and after the other's first write.
    const span = (records: { createdAt: string }[]) => [records[0]!.createdAt, records.at(-1)!.createdAt]
    const [sessionsFrom, sessionsTo] = span(sessions)
    const [projectsFrom, projectsTo] = span(projects)
    expect(sessionsFrom! < projectsTo! && projectsFrom! < sessionsTo!).toBe(true)
    expect(await store.collection('sessions').count()).toBe(sessionIds.length)
    expect(await store.collection('projects').count()).toBe(projectIds.length)
    expect(await store.collection('sessions').count({ projectId: 'p1' })).toBe(sessionIds.length)
    await store.close()
  },
)
