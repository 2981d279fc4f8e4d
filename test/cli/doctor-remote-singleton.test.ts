import { join } from 'node:path'
import { expect, test } from 'vitest'
import { openBareBackend } from '../../src/cli/open.js'
import { openStore } from '../../src/index.js'
import { PROCESSES_COLLECTION, type ProcessEntry } from '../../src/registry/process-registry.js'
import { tempDir } from '../helpers/backends.js'
import { runCliJson } from '../helpers/cli.js'

interface DoctorJson {
  checks: { title: string; status: string; details?: string[]; fix?: string; fixed: boolean }[]
}

/** A registration as a process on another machine writes it, its heartbeat `ageMs` old by this host's clock. */
function remoteEntry(id: string, role: string, singleton: boolean, ageMs: number): ProcessEntry {
  const at = new Date(Date.now() - ageMs).toISOString()
  return {
    id,
    role,
    pid: 4242,
    host: 'other-host.invalid',
    machine: 'other-host.invalid/boot/ns',
    startedAt: at,
    heartbeatAt: at,
    ...(singleton ? { singleton: true } : {}),
  }
}

// doctor --fix pruned with its own copy of the rule (isStale), so a singleton holder on another
// host whose clock runs behind this one lost its role to a doctor. The library's rule (isPrunable,
// pruneStale) leaves that one to a newcomer of its role, which watches it stay silent first.
test('doctor --fix leaves a singleton holder on another host in the registry, and prunes an ordinary stale one', async () => {
  const path = join(tempDir(), 'app.db')
  const store = await openStore({ path, role: 'server', collections: { tasks: { writers: ['server'] } } })
  await store.close()
  const backend = await openBareBackend(path)
  try {
    await backend.write(async (tx) => {
      const now = Date.now()
      for (const entry of [remoteEntry('daemon', 'daemon', true, 10 * 60_000), remoteEntry('worker-1', 'worker', false, 10 * 60_000)]) {
        await tx.insert(PROCESSES_COLLECTION, {
          id: entry.id,
          version: 1,
          createdAt: now,
          updatedAt: now,
          role: entry.role,
          data: entry as unknown as Record<string, string>,
        })
      }
    })
  } finally {
    await backend.close()
  }

  const fixed = runCliJson<DoctorJson>(['doctor', path, '--fix'])
  const registry = fixed.result.checks.find((c) => c.title === 'process registry')
  expect(registry, fixed.stderr).toMatchObject({ fixed: true, fix: 'pruned 1 stale registration; kept 1 singleton holder on another host' })
  expect(registry?.details).toEqual(
    expect.arrayContaining([expect.stringMatching(/role "daemon".*holds a singleton role on another host/)]),
  )

  const after = await openBareBackend(path)
  try {
    const ids = await after.read(async (tx) =>
      (await tx.find(PROCESSES_COLLECTION, { where: [], orderBy: { field: { kind: 'meta', name: 'id' }, direction: 'asc' } })).map(
        (r) => r.id,
      ),
    )
    expect(ids).toEqual(['daemon'])
  } finally {
    await after.close()
  }
})
