import { afterEach, expect, test } from 'vitest'
import { openStore, type Store } from '../../src/index.js'
import { scopeContextOn } from '../../src/store/tx-scope.js'

// The transaction context (an AsyncLocalStorage) makes every promise of the program costlier on
// Node 20 while it runs, so it must run only while a transaction callback does.

let store: Store | undefined
afterEach(async () => {
  await store?.close()
  store = undefined
})

async function open(): Promise<Store> {
  store = await openStore({ path: ':memory:', role: 'app', collections: { items: { writers: '*' } } })
  return store
}

test('the transaction context is on while a callback runs and off once every transaction has ended', async () => {
  const s = await open()
  const items = s.collection('items')
  expect(scopeContextOn()).toBe(false)

  await s.transaction(async () => {
    expect(scopeContextOn()).toBe(true)
    // A call through the plain handle still joins the transaction.
    await items.insert({ n: 1 })
  })
  expect(scopeContextOn()).toBe(false)

  await expect(
    s.transaction(async (tx) => {
      await tx.collection('items').insert({ n: 2 })
      throw new Error('roll back')
    }),
  ).rejects.toThrow('roll back')
  expect(scopeContextOn()).toBe(false)

  await s.transaction(async (tx) => {
    await s.transaction(async () => {
      await items.insert({ n: 3 })
    })
    expect(scopeContextOn()).toBe(true)
    await tx.collection('items').insert({ n: 4 })
  })
  expect(scopeContextOn()).toBe(false)

  const first = await items.insert({ n: 0 })
  await items.update(first.id, async (d) => ({ n: (d.n as number) + 1 }))
  expect(scopeContextOn()).toBe(false)

  expect((await items.find()).map((r) => r.data.n).sort()).toEqual([1, 1, 3, 4])
})

test('with transactions of two stores open at once, the context stays on until the last one ends', async () => {
  const a = await open()
  const b = await openStore({ path: ':memory:', role: 'app', collections: { items: { writers: '*' } } })
  try {
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    let began!: () => void
    const begun = new Promise<void>((resolve) => (began = resolve))
    const first = a.transaction(async () => {
      began()
      await held
      // After the other store's transaction ended: the plain handle must still join this one
      // (with the context switched off it would queue behind it and never run).
      await a.collection('items').insert({ n: 1 })
    })
    // Each store has its own queue: this transaction runs while the first one is still open.
    await begun
    await b.transaction(async () => {
      // The plain handle inside the callback joins this store's transaction.
      await b.collection('items').insert({ n: 2 })
      expect(scopeContextOn()).toBe(true)
    })
    expect(scopeContextOn()).toBe(true)
    release()
    const stuck = new Promise((resolve) => setTimeout(() => resolve('stuck'), 2000))
    expect(await Promise.race([first.then(() => 'committed'), stuck])).toBe('committed')
    expect(scopeContextOn()).toBe(false)
    expect(await a.collection('items').count()).toBe(1)
    expect(await b.collection('items').count()).toBe(1)
  } finally {
    await b.close()
  }
})

test('a call the callback started but did not await, made after the transaction ended, runs on its own', async () => {
  const s = await open()
  const items = s.collection('items')
  let late: Promise<unknown> | undefined
  await s.transaction(async () => {
    late = new Promise((resolve) => setTimeout(resolve, 10)).then(() => items.insert({ n: 'late' }))
  })
  expect(scopeContextOn()).toBe(false)
  // A second transaction switches the context on again while the late call starts: the late call
  // carries the first (ended) transaction's context, so it waits for its own turn in the queue.
  await s.transaction(async (tx) => {
    await new Promise((resolve) => setTimeout(resolve, 40))
    await tx.collection('items').insert({ n: 'second' })
  })
  await late
  expect((await items.find()).map((r) => r.data.n).sort()).toEqual(['late', 'second'])
  expect(scopeContextOn()).toBe(false)
})
