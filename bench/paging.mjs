// Paging through a large collection (issue #22, goal 1): PAGING_RECORDS records (default
// 1,000,000, about 200 bytes each) read page by page with findPage (1000 records a page), in id
// order and in the order of an indexed field, against raw better-sqlite3 keyset paging on a copy
// of the same rows. Prints records/s (CPU time) and the process's memory as the pages go by: it
// must stay flat, whatever the size of the collection. `npm run bench:paging`.
import { tempDir, formatRate, log, printTable } from './lib.mjs'
import { loadReadStores } from './reads.mjs'

const RECORDS = Number(process.env.PAGING_RECORDS ?? 1_000_000)
const PAGE = 1000
const MB = 1024 * 1024

/** Reads every page with `page(after)` → { count, next }; memory sampled at each tenth. */
async function pageThrough(name, page) {
  const samples = []
  const cpu = process.cpuUsage()
  let after
  let read = 0
  let nextSample = RECORDS / 10
  for (;;) {
    const { count, next } = await page(after)
    read += count
    if (read >= nextSample || next === null) {
      const { rss, heapUsed } = process.memoryUsage()
      samples.push({ read, rss, heapUsed })
      nextSample += RECORDS / 10
    }
    if (next === null) break
    after = next
  }
  const used = process.cpuUsage(cpu)
  const rate = read / ((used.user + used.system) / 1e6)
  const rss = samples.map((s) => s.rss)
  const heap = samples.map((s) => s.heapUsed)
  const mb = (bytes) => (bytes / MB).toFixed(0)
  log(`  ${name}: ${read} records, ${formatRate(rate)}; RSS by tenths ${rss.map(mb).join(' ')} MB, heap ${heap.map(mb).join(' ')} MB`)
  if (read !== RECORDS) throw new Error(`${name} read ${read} records of ${RECORDS}`)
  return {
    name,
    rate: formatRate(rate),
    rss: `${mb(Math.min(...rss))}-${mb(Math.max(...rss))} MB`,
    heap: `${mb(Math.min(...heap))}-${mb(Math.max(...heap))} MB`,
    growth: `${mb(rss.at(-1) - rss[0])} MB`,
  }
}

const { dir, remove } = tempDir()
try {
  log(`paging: loading ${RECORDS} records into a Tandem store and a raw copy...`)
  const started = performance.now()
  const { store, items, raw } = await loadReadStores(dir, RECORDS)
  log(`  loaded in ${((performance.now() - started) / 1000).toFixed(0)} s`)
  const byId = raw.prepare(`SELECT id, version, data FROM items WHERE id > ? ORDER BY id LIMIT ${PAGE}`)
  const byScore = raw.prepare(
    `SELECT id, version, data, json_extract(data, '$.score') AS s FROM items WHERE json_extract(data, '$.score') > ? ORDER BY json_extract(data, '$.score') LIMIT ${PAGE}`,
  )
  const rawPage = (statement, start, key) => (after) => {
    const rows = statement.all(after ?? start).map((r) => ({ id: r.id, version: r.version, data: JSON.parse(r.data), s: r.s }))
    return { count: rows.length, next: rows.length < PAGE ? null : key(rows.at(-1)) }
  }
  const tandemPage = (orderBy) => async (after) => {
    const page = await items.findPage({ orderBy, limit: PAGE, after })
    return { count: page.records.length, next: page.next }
  }
  const rows = []
  for (let round = 0; round < 2; round++) {
    rows.push(await pageThrough('tandem, id order', tandemPage(undefined)))
    rows.push(
      await pageThrough(
        'raw, id order',
        rawPage(byId, '', (r) => r.id),
      ),
    )
    rows.push(await pageThrough('tandem, indexed field order', tandemPage('score')))
    rows.push(
      await pageThrough(
        'raw, indexed field order',
        rawPage(byScore, -1, (r) => r.s),
      ),
    )
  }
  await store.close()
  raw.close()
  console.log()
  printTable(rows, [
    ['name', `paging ${RECORDS} records, ${PAGE} a page`],
    ['rate', 'records/s (CPU)'],
    ['rss', 'RSS, min-max'],
    ['heap', 'heap used, min-max'],
    ['growth', 'RSS last - first tenth'],
  ])
} finally {
  remove()
}
