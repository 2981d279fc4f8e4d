import { describe, expect, test } from 'vitest'
import { OwnershipError } from '../../src/index.js'
import { TARGETS } from '../helpers/backends.js'

const collections = {
  projects: { writers: ['server'] },
  sessions: { writers: ['daemon'] },
  notifications: { writers: '*' },
} as const

describe.each(TARGETS)('ownership on $name', (backend) => {
  test('a role that is not a writer gets OwnershipError and nothing changes', async () => {
    const open = await backend.tempStore()
    const server = await open({ role: 'server', collections })
    const daemon = await open({ role: 'daemon', collections })
    const project = await server.collection('projects').insert({ name: 'p' })
    const projects = daemon.collection('projects')
    const attempts = [
      () => projects.insert({ name: 'q' }),
      () => projects.insertMany([{ name: 'q' }]),
      () => projects.update(project.id, () => ({ name: 'q' })),
      () => projects.patch(project.id, { name: 'q' }),
      () => projects.replace(project.id, { name: 'q' }),
      () => projects.upsert(project.id, { name: 'q' }),
      () => projects.delete(project.id),
    ]
    for (const attempt of attempts) {
      const error = await attempt().catch((e: unknown) => e)
      expect(error).toBeInstanceOf(OwnershipError)
      expect(error).toMatchObject({ code: 'NOT_OWNER', role: 'daemon', collection: 'projects' })
      expect((error as Error).message).toBe(
        'Only role "server" writes "projects"; this process is "daemon". Add "daemon" to the writers of "projects" or ask the owner to write it.',
      )
    }
    expect(await server.collection('projects').find()).toEqual([project])
  })

  test('reads are open to every role (one that writes no collection is declared in roles), and "*" lets every role write', async () => {
    const open = await backend.tempStore()
    const server = await open({ role: 'server', collections })
    const cli = await open({ role: 'cli', roles: { cli: {} }, collections })
    await server.collection('projects').insert({ name: 'p' })
    expect(await cli.collection('projects').count()).toBe(1)
    await cli.collection('notifications').insert({ text: 'hi' })
    await server.collection('notifications').insert({ text: 'yo' })
    expect((await server.collection('notifications').find()).map((r) => r.role)).toEqual(['cli', 'server'])
  })

  test('ownership is checked inside transactions too, and the transaction rolls back', async () => {
    const open = await backend.tempStore()
    const daemon = await open({ role: 'daemon', collections })
    await expect(
      daemon.transaction(async (tx) => {
        await tx.collection('sessions').insert({ ok: true })
        await tx.collection('projects').insert({ name: 'not mine' })
      }),
    ).rejects.toMatchObject({ code: 'NOT_OWNER' })
    expect(await daemon.collection('sessions').count()).toBe(0)
    // The refusal is a rejected promise, never a synchronous throw, on a transaction handle too.
    await daemon.transaction(async (tx) => {
      const attempt = tx.collection('projects').insert({ name: 'not mine' })
      await expect(attempt).rejects.toMatchObject({ code: 'NOT_OWNER' })
    })
  })

  test('an undeclared collection is refused with the declared names', async () => {
    const store = await (await backend.tempStore())({ role: 'server', collections })
    expect(() => store.collection('users' as 'projects')).toThrow(
      /Collection "users" is not declared\. Declared: projects, sessions, notifications/,
    )
  })
})
