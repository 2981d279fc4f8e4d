import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { PG_URL, POSTGRES, dropSchemaAfterTest, uniqueSchema } from '../helpers/backends.js'
import { go, launchBrowser, makeProject, openPage, screenshot, startChild, startInspector } from './inspector-helpers.js'

// The inspector on a PostgreSQL store (POSTGRES is undefined without a server, and CI=true then fails the run).

const WAIT = { timeout: 30_000 }
let browser: Browser
beforeAll(async () => {
  if (POSTGRES !== undefined) browser = await launchBrowser()
})
afterAll(async () => {
  await browser?.close()
})

describe.runIf(POSTGRES !== undefined)('tandem inspect on PostgreSQL', () => {
  test('counts, a record, a write by another process in the feed, and an edit conflict, on a PostgreSQL store', async () => {
    const schema = uniqueSchema('inspect')
    dropSchemaAfterTest(schema)
    const project = await makeProject({ url: PG_URL, schema })
    await startChild(project, ['writer.mjs', 'worker', 'tick']).line()
    const inspector = await startInspector(project, [PG_URL, '--schema', schema, '--write', '--role', 'admin'])
    const page = await openPage(browser, inspector.url)
    await page.waitForSelector('#collections tr[data-collection="tasks"]', WAIT)
    expect(await page.getAttribute('tr[data-collection="tasks"] td[data-count]', 'data-count')).toBe('120')
    expect(await page.textContent('#store')).toContain('(postgres)')
    await screenshot(page, 'postgres-collections')

    await go(page, '#/records/tasks/t007')
    await page.waitForSelector('#record-json', WAIT)
    expect(JSON.parse((await page.textContent('#record-json'))!)).toEqual({ title: 'task 7', status: 'open', n: 7 })

    // An edit meets the daemon's change: both sides shown, the daemon's version kept.
    await page.click('#edit', WAIT)
    await page.fill('#editor', JSON.stringify({ title: 'from the inspector', status: 'open', n: 7 }))
    await page.waitForSelector('#validation[data-state="valid"]', WAIT)
    await project.write('daemon', 'patch', 'tasks', 't007', JSON.stringify({ title: 'from the daemon' }))
    await page.click('#save')
    await page.waitForSelector('#conflict', WAIT)
    expect(await page.textContent('.side.theirs')).toContain('from the daemon')

    await go(page, '#/live')
    await page.waitForSelector('#feed.ok', WAIT)
    const written = await project.write('worker', 'insert', 'events', 'pg-probe', JSON.stringify({ kind: 'probe' }))
    await page.waitForSelector('#feed-rows tr[data-id="pg-probe"]', WAIT)
    console.log(`inspector live feed on PostgreSQL: a write by another process appeared ${Date.now() - written!.at!} ms after its commit`)

    await go(page, '#/processes')
    await page.waitForSelector('#processes tr[data-role="worker"]', WAIT)
    await go(page, '#/health')
    await page.waitForSelector('#checks tr[data-status]', WAIT)
    expect(await page.locator('#checks tr[data-status="fail"]').count()).toBe(0)
    await screenshot(page, 'postgres-health')
  })
})
