// Writes `count` changes across three collections (inserts, then updates of earlier records),
// one after another, after the parent says go. Reports when done.
import { command, failOnCrash, finish, report, workerArgs } from './channel.mjs'
import { openFeedStore } from './feed-store.mjs'

failOnCrash()
const { path, count } = workerArgs()
const store = await openFeedStore(path, 'writer')
report({ type: 'ready' })
await command('go')

const names = ['jobs', 'events', 'notes']
const ids = []
for (let i = 0; i < count; i++) {
  const collection = store.collection(names[i % 3])
  if (i % 4 === 3) await collection.patch(ids[i - 3], { touched: i })
  else ids[i] = (await collection.insert({ i })).id
}
await store.close()
report({ type: 'done', count })
finish()
