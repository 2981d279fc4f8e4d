import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { go, launchBrowser, makeProject, openPage, screenshot, startChild, startInspector, type Project } from './inspector-helpers.js'

// tandem inspect in headless Chromium, on a store other processes write while the page is open.
// Waits follow progress (an element appearing); timings are printed, never asserted. Waits are
// selectors, not page functions: the page's Content-Security-Policy forbids evaluating strings.

let browser: Browser
beforeAll(async () => {
  browser = await launchBrowser()
})
afterAll(async () => {
  await browser?.close()
})

/** Generous: the machine is shared; the wait ends as soon as the element is there. */
const WAIT = { timeout: 30_000 }

function startTicker(project: Project) {
  const ticker = startChild(project, ['writer.mjs', 'worker', 'tick'])
  return ticker.line()
}

async function text(page: Page, selector: string): Promise<string> {
  return (await page.locator(selector).first().textContent({ timeout: WAIT.timeout })) ?? ''
}

test('collections show their counts, writers and schema; a record shows its version and JSON; the token is printed once', async () => {
  const project = await makeProject()
  await startTicker(project)
  const inspector = await startInspector(project)
  const page = await openPage(browser, inspector.url)
  await page.waitForSelector('#collections tr[data-collection="tasks"]', WAIT)
  expect(await page.getAttribute('tr[data-collection="tasks"] td[data-count]', 'data-count')).toBe('120')
  const tasksRow = await text(page, 'tr[data-collection="tasks"]')
  expect(tasksRow).toContain('admin, daemon')
  expect(tasksRow).toContain('zod: title, status, n')
  expect(tasksRow).toContain('status')
  expect(Number(await page.getAttribute('tr[data-collection="events"] td[data-count]', 'data-count'))).toBeGreaterThanOrEqual(10)
  // The token left the address bar once the page took it.
  expect(page.url()).not.toContain('token')
  await screenshot(page, 'collections')

  await page.click('a[href="#/records/tasks"]')
  await page.waitForSelector('#records tr[data-id="t000"]', WAIT)
  expect(await page.getAttribute('.summary', 'data-count')).toBe('120')
  await page.click('a[href="#/records/tasks/t005"]')
  await page.waitForSelector('#record-json', WAIT)
  const json = JSON.parse(await text(page, '#record-json')) as Record<string, unknown>
  expect(json).toEqual({ title: 'task 5', status: 'open', n: 5 })
  expect(await text(page, '#record .version')).toBe('1')
  await screenshot(page, 'record')
  // Keyboard: Escape closes the record.
  await page.keyboard.press('Escape')
  await page.waitForSelector('#record', { state: 'detached', ...WAIT })

  // Phone width: the same screen stays usable (no page-wide horizontal scroll).
  await page.setViewportSize({ width: 390, height: 844 })
  const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth')
  expect(overflow).toBeLessThanOrEqual(0)
  await screenshot(page, 'records-phone')

  inspector.child.kill('SIGINT')
  await new Promise((resolve) => inspector.child.once('close', resolve))
  expect(inspector.child.exitCode).toBe(0)
  const all = inspector.stdout() + inspector.stderr()
  expect(all.split(inspector.token).length - 1).toBe(1)
})

test('the filter uses the query engine and pages with its cursors; sort follows the column', async () => {
  const project = await makeProject()
  const inspector = await startInspector(project)
  const page = await openPage(browser, `${inspector.url.split('#')[0]}#token=${inspector.token}`)
  await page.waitForSelector('#collections', WAIT)
  await go(page, '#/records/tasks')
  await page.waitForSelector('#records tr[data-id="t000"]', WAIT)

  // Keyboard: "/" goes to the filter.
  await page.keyboard.press('/')
  expect(await page.evaluate('document.activeElement?.classList.contains("field")')).toBe(true)
  await page.keyboard.type('status')
  await page.fill('.condition .value', 'done')
  await page.click('#apply')
  await page.waitForSelector('.summary[data-count="40"]', WAIT)
  expect(await text(page, '.summary')).toContain('Records 1–25 of 40 matching')
  expect(await page.locator('#records tbody tr').count()).toBe(25)
  await screenshot(page, 'records-filtered')

  await page.click('#next')
  await page.waitForSelector('.summary:has-text("Records 26–40")', WAIT)
  expect(await page.locator('#records tbody tr').count()).toBe(15)
  expect(await page.isDisabled('#next')).toBe(true)
  await page.click('#prev')
  await page.waitForSelector('.summary:has-text("Records 1–25")', WAIT)

  // A second condition on a number: n >= 100 among the done ones (102, 105, ... 117: 6 records).
  await page.click('text=+ condition')
  await page.locator('.condition .field').nth(1).fill('n')
  await page.locator('.condition .op').nth(1).selectOption('gte')
  await page.locator('.condition .value').nth(1).fill('100')
  await page.click('#apply')
  await page.waitForSelector('.summary[data-count="6"]', WAIT)

  // Sorting by n, descending: the largest first.
  await page.click('#clear')
  await page.waitForSelector('.summary[data-count="120"]', WAIT)
  await page.click('button[data-sort="n"]')
  await page.waitForSelector('th[aria-sort="ascending"] button[data-sort="n"]', WAIT)
  await page.click('button[data-sort="n"]')
  await page.waitForSelector('th[aria-sort="descending"] button[data-sort="n"]', WAIT)
  await page.waitForSelector('#records tbody tr:first-child[data-id="t119"]', WAIT)
  await page.click('#next')
  await page.waitForSelector('#records tbody tr:first-child[data-id="t094"]', WAIT)

  // A bad query is the engine's typed error, shown.
  await page.locator('.condition .field').first().fill('bad field!')
  await page.click('#apply')
  await page.waitForSelector('.error', WAIT)
  expect(await text(page, '.error')).toContain('INVALID_QUERY')
})

test('an edit saved after another process changed the record shows both sides, and nothing is overwritten', async () => {
  const project = await makeProject()
  const inspector = await startInspector(project, ['--write', '--role', 'admin'])
  const page = await openPage(browser, inspector.url)
  await page.waitForSelector('#collections', WAIT)
  expect(await text(page, '#mode')).toContain('role admin')
  await go(page, '#/records/tasks/t010')
  await page.click('#edit', WAIT)
  await page.waitForSelector('#validation[data-state="valid"]', WAIT)

  // The schema is checked before saving: a wrong status is refused with its issue.
  await page.fill('#editor', JSON.stringify({ title: 'mine', status: 'later', n: 10 }))
  await page.waitForSelector('#validation[data-state="invalid"]', WAIT)
  expect(await text(page, '#validation')).toContain('SCHEMA_INVALID')
  await page.click('#save')
  await page.waitForSelector('#validation[data-state="invalid"]', WAIT)
  await page.fill('#editor', JSON.stringify({ title: 'edited in the inspector', status: 'done', n: 10 }, null, 2))
  await page.waitForSelector('#validation[data-state="valid"]', WAIT)

  // Meanwhile the daemon changes the same record.
  const theirs = await project.write('daemon', 'patch', 'tasks', 't010', JSON.stringify({ title: 'changed by the daemon' }))
  expect(theirs?.version).toBe(2)
  await page.waitForSelector('.notice', WAIT)
  await page.click('#save')
  await page.waitForSelector('#conflict', WAIT)
  expect(await text(page, '.side.mine')).toContain('edited in the inspector')
  expect(await text(page, '.side.theirs')).toContain('changed by the daemon')
  expect(await text(page, '.side.theirs h3')).toContain('version 2, by role daemon')
  expect(await page.locator('.side.mine .line.diff').count()).toBeGreaterThan(0)
  await screenshot(page, 'edit-conflict')
  await screenshot(page, 'edit-conflict-window', false)

  // Nothing was overwritten: the API says version 2, the daemon's title.
  const stored = await page.evaluate(async (token) => {
    const res = await fetch('/v1/collections/tasks/records/t010', { headers: { authorization: `Bearer ${token}` } })
    return res.json()
  }, inspector.token)
  expect(stored).toMatchObject({ version: 2, data: { title: 'changed by the daemon', status: 'open', n: 10 } })

  // Editing again on top of version 2 saves (as role admin).
  await page.click('#rebase')
  await page.waitForSelector('#validation[data-state="valid"]', WAIT)
  await page.click('#save')
  await page.waitForSelector('#record-json', WAIT)
  expect(await text(page, '#record .version')).toBe('3')
  expect(JSON.parse(await text(page, '#record-json'))).toEqual({ title: 'edited in the inspector', status: 'done', n: 10 })
  const meta = await text(page, '#record .meta')
  expect(meta).toContain('admin')

  // Ownership applies to the inspector's role: admin may not write events (worker's).
  const refused = await page.evaluate(async (token) => {
    const res = await fetch('/v1/collections/events/records', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ data: { kind: 'x' } }),
    })
    return { status: res.status, body: (await res.json()) as { error: { code: string } } }
  }, inspector.token)
  expect([refused.status, refused.body.error.code]).toEqual([403, 'NOT_OWNER'])
})

test('the live feed shows another process\u2019s write without reload, pauses, and rows in view update in place', async () => {
  const project = await makeProject()
  await startTicker(project)
  const inspector = await startInspector(project)
  const page = await openPage(browser, inspector.url)
  await page.waitForSelector('#collections', WAIT)
  await go(page, '#/live')
  await page.waitForSelector('#feed.ok', WAIT)
  // The ticker's writes arrive by themselves.
  await page.waitForSelector('#feed-rows tr[data-collection="events"]', WAIT)

  const written = await project.write('worker', 'insert', 'events', 'probe-1', JSON.stringify({ kind: 'probe' }))
  await page.waitForSelector('#feed-rows tr[data-id="probe-1"]', WAIT)
  const delayMs = Date.now() - written!.at!
  console.log(`inspector live feed: a write by another process appeared ${delayMs} ms after its commit (includes this test's polling)`)
  await screenshot(page, 'live')

  await page.click('#pause')
  await project.write('worker', 'insert', 'events', 'probe-2', JSON.stringify({ kind: 'probe' }))
  await page.waitForSelector('#pause:has-text("new)")', WAIT)
  expect(await page.locator('#feed-rows tr[data-id="probe-2"]').count()).toBe(0)
  await page.click('#pause')
  await page.waitForSelector('#feed-rows tr[data-id="probe-2"]', WAIT)

  // A record in view is updated in place when another process writes it.
  await go(page, '#/records/tasks')
  await page.waitForSelector('#records tr[data-id="t001"] .version', WAIT)
  expect(await text(page, '#records tr[data-id="t001"] .version')).toBe('1')
  await project.write('daemon', 'patch', 'tasks', 't001', JSON.stringify({ title: 'renamed elsewhere' }))
  await page.waitForSelector('#records tr[data-id="t001"] .version:text-is("2")', WAIT)
  expect(await text(page, '#records tr[data-id="t001"]')).toContain('renamed elsewhere')
})

test('processes, consumers and health are shown; a read-only inspector has no edit control and its API refuses writes', async () => {
  const project = await makeProject()
  await startTicker(project)
  const inspector = await startInspector(project)
  const page = await openPage(browser, inspector.url)
  await page.waitForSelector('#collections', WAIT)
  await go(page, '#/processes')
  await page.waitForSelector('#processes tr[data-role="worker"]', WAIT)
  const ticker = await text(page, '#processes tr[data-role="worker"]')
  expect(ticker).toMatch(/\d+/)
  expect(ticker).toContain('no') // not a singleton
  const audit = await page.waitForSelector('#consumers tr[data-consumer="audit"]', WAIT)
  expect(Number(await (await audit.$('.behind'))!.textContent())).toBeGreaterThan(0)
  expect(await text(page, '#write-lock')).toMatch(/write lock|Held by/)
  await screenshot(page, 'processes')

  await go(page, '#/health')
  await page.waitForSelector('#checks tr[data-status]', WAIT)
  expect(await text(page, '#checks')).toContain('integrity')
  expect(await page.locator('#checks tr[data-status="fail"]').count()).toBe(0)
  expect(await text(page, '#storage')).toContain('WAL')
  expect(await page.locator('#backup').count()).toBe(0)
  await screenshot(page, 'health')

  // Read-only: no edit control, and the API refuses with READ_ONLY.
  await go(page, '#/records/tasks/t001')
  await page.waitForSelector('#record-json', WAIT)
  expect(await page.locator('#edit').count()).toBe(0)
  const refused = await page.evaluate(async (token) => {
    const res = await fetch('/v1/collections/tasks/records/t001', {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ data: { title: 'x', status: 'open', n: 1 }, ifVersion: 1, mode: 'replace' }),
    })
    const backup = await fetch('/inspector/api/backup', { method: 'POST', headers: { authorization: `Bearer ${token}` } })
    const code = ((await res.json()) as { error: { code: string } }).error.code
    return { status: res.status, code, backup: ((await backup.json()) as { error: { code: string } }).error.code }
  }, inspector.token)
  expect(refused).toEqual({ status: 403, code: 'READ_ONLY', backup: 'READ_ONLY' })
  // Without the token nothing of the store is served.
  const anonymous = await page.evaluate(async () => (await fetch('/inspector/api/collections')).status)
  expect(anonymous).toBe(401)
})

test('in write mode the health screen runs a backup, which becomes the last backup', async () => {
  const project = await makeProject()
  const inspector = await startInspector(project, ['--write', '--role', 'admin'])
  const page = await openPage(browser, inspector.url)
  await page.waitForSelector('#collections', WAIT)
  await go(page, '#/health')
  await page.waitForSelector('#last-backup', WAIT)
  expect(await text(page, '#last-backup')).toContain('No backup found')
  await page.click('#backup')
  await page.waitForSelector('#backup-status .good', WAIT)
  expect(await text(page, '#backup-status')).toMatch(/Backed up to .*backups\/app-\d{8}T\d{9}Z\.db/)
  await go(page, '#/collections')
  await page.waitForSelector('#collections', WAIT)
  await go(page, '#/health')
  await page.waitForSelector('#last-backup:has-text("Last backup")', WAIT)
})
