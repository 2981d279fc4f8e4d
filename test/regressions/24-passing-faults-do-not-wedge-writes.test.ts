// Issue 24 (review of the server-fault work): a passing fault must fail only the operation it hit.
// A singleton holder whose fence check failed once (a lost connection, say) refused every later
// write as if its role were lost; a `since: 'now'` stream whose head read kept failing made every
// write of the process wait for it forever; and a stream retried STORE_FILES_CHANGED for ever.
// The faults are injected at the backend edge, as the engine's own translated errors.
import { describe, expect, test } from 'vitest'
import { StorageError, TandemError } from '../../src/index.js'
import { PROCESSES_COLLECTION } from '../../src/registry/process-registry.js'
import { BACKENDS } from '../helpers/backends.js'
import { sleep, waitUntil } from '../helpers/processes.js'

const collections = { tasks: { writers: '*' } } as const

interface Patchable {
  backend: {
    write: (work: (tx: object) => unknown, options?: unknown) => Promise<unknown>
    changeHead: () => Promise<number>
    readChanges: (...args: never[]) => Promise<unknown>
  }
}

const ioError = () =>
  new StorageError(
    'disk I/O error (injected: SQLITE_IOERR_READ)',
    Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR_READ' }),
  )

/** Makes the next `count` reads of the process registry inside a write transaction fail (the singleton fence reads it). */
function failRegistryReads(store: Patchable, count: number): { failures: number } {
  const state = { failures: 0 }
  const backend = store.backend
  const write = backend.write.bind(backend)
  backend.write = (work, options) =>
    write((tx) => {
      const patched = new Proxy(tx, {
        get(target, key) {
          const value = Reflect.get(target, key, target) as unknown
          if (key !== 'get' || typeof value !== 'function') return typeof value === 'function' ? value.bind(target) : value
          return (collection: string, ...rest: unknown[]) => {
            if (collection === PROCESSES_COLLECTION && state.failures < count) {
              state.failures++
              return Promise.reject(ioError())
            }
            return (value as (...args: unknown[]) => unknown).call(target, collection, ...rest)
          }
        },
      })
      return work(patched)
    }, options)
  return state
}

/** Resolves with 'hung' if `promise` has not settled within `ms`. */
const within = <T>(promise: Promise<T>, ms: number): Promise<T | 'hung'> => Promise.race([promise, sleep(ms).then(() => 'hung' as const)])

describe.each(BACKENDS)('passing faults on $name', (backend) => {
  test('a singleton holder whose fence check fails once (not ROLE_LOST) fails that write alone and keeps writing', async () => {
    const open = await backend.tempStore()
    const refused: TandemError[] = []
    const store = await open({
      role: 'daemon',
      roles: { daemon: { singleton: true } },
      collections,
      onWritesRefused: (e) => void refused.push(e),
    })
    const tasks = store.collection('tasks')
    await tasks.insert({ i: 0 })
    const state = failRegistryReads(store as never, 1)
    await expect(tasks.insert({ i: 1 })).rejects.toMatchObject({ code: 'STORAGE_FAILURE' })
    expect(state.failures).toBe(1)
    // The glitch passed: the role is still this process's, and writes go on.
    await expect(tasks.insert({ i: 2 })).resolves.toBeDefined()
    expect(refused).toEqual([])
    expect((await tasks.find()).map((r) => (r.data as { i: number }).i).sort()).toEqual([0, 2])
  })

  test("writes do not hang while a since-'now' stream cannot read the head: they stop waiting after its first failed read", async () => {
    const open = await backend.tempStore()
    const store = await open({ role: 'app', collections })
    const tasks = store.collection('tasks')
    const patch = (store as unknown as Patchable).backend
    const changeHead = patch.changeHead.bind(patch)
    let failing = true
    let failures = 0
    patch.changeHead = async () => {
      if (!failing) return changeHead()
      failures++
      throw ioError()
    }
    const feed = store.changes()
    const first = feed.next()
    await waitUntil(() => failures >= 1, 'the head read to fail')
    expect(await within(tasks.insert({ i: 1 }), 5000), 'a write must not wait for a stream retrying its head read').not.toBe('hung')
    failing = false
    await feed.started
    await tasks.insert({ i: 2 })
    expect((await first).value?.data).toEqual({ i: 2 })
    feed.close()
  })

  test("writes stop waiting for a since-'now' stream whose head read hangs after busyTimeoutMs", async () => {
    const open = await backend.tempStore()
    const store = await open({ role: 'app', collections, busyTimeoutMs: 300 })
    const tasks = store.collection('tasks')
    const patch = (store as unknown as Patchable).backend
    patch.changeHead = () => new Promise<number>(() => undefined)
    const feed = store.changes()
    expect(await within(tasks.insert({ i: 1 }), 5000), 'a write must not wait for a hung head read beyond busyTimeoutMs').not.toBe('hung')
    feed.close()
  })

  test('a stream ends with STORE_FILES_CHANGED instead of retrying it for ever', async () => {
    const open = await backend.tempStore()
    const store = await open({ role: 'app', collections })
    const patch = (store as unknown as Patchable).backend
    let reads = 0
    patch.readChanges = async () => {
      reads++
      throw new TandemError('STORE_FILES_CHANGED', 'store.db-wal was deleted (injected).')
    }
    const feed = store.changes({ since: 'beginning' })
    const outcome = await within(
      feed.next().then(
        () => 'ended',
        (error: unknown) => error,
      ),
      3000,
    )
    expect(outcome, 'the stream must not retry a permanent failure').toMatchObject({ code: 'STORE_FILES_CHANGED' })
    expect(reads).toBe(1)
  })
})
