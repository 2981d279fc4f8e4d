import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { onTestFinished } from 'vitest'
import { openStore, type CollectionsConfig, type Store, type StoreConfig } from '../../src/index.js'

/** What a conformance test passes to open a store: everything but where it lives. */
export type TestStoreConfig<C extends CollectionsConfig> = Omit<StoreConfig<C>, 'path' | 'dataDir' | 'backend'>

/** Opens stores on one fresh location; every store opened through it is closed after the test. */
export type StoreOpener = <C extends CollectionsConfig>(config: TestStoreConfig<C>) => Promise<Store<C>>

export interface BackendTarget {
  name: 'sqlite' | 'postgres' | 'files'
  /** A fresh, empty location for this test; open it as many times as you like (each is like another process). */
  tempStore(): Promise<StoreOpener>
}

/** A private temp directory removed when the test ends. */
export function tempDir(prefix = 'tandem-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function opener(where: Pick<StoreConfig, 'path' | 'dataDir'>): StoreOpener {
  return async (config) => {
    const store = await openStore({ ...config, ...where })
    onTestFinished(() => store.close())
    return store
  }
}

const sqlite: BackendTarget = {
  name: 'sqlite',
  async tempStore() {
    return opener({ dataDir: tempDir(), path: 'store.db' })
  },
}

const ALL: BackendTarget[] = [sqlite]

/**
 * The backends every conformance test runs on. TANDEM_BACKENDS=sqlite,postgres narrows the run.
 * (PostgreSQL joins with issue #6.)
 */
export const BACKENDS: BackendTarget[] = (() => {
  const wanted = process.env.TANDEM_BACKENDS?.split(',').map((s) => s.trim())
  return wanted === undefined ? ALL : ALL.filter((b) => wanted.includes(b.name))
})()
