// Opens the store as the singleton role "daemon" when told to go; reports whether it got the
// role, then holds the store open until told to stop (or until it is killed).
import { openStore } from 'tandemdb'
import { command, describeError, failOnCrash, finish, report, workerArgs } from './channel.mjs'

failOnCrash()
const { path } = workerArgs()
report({ type: 'ready' })
await command('go')
try {
  const store = await openStore({
    path,
    role: 'daemon',
    roles: { daemon: { singleton: true } },
    collections: { jobs: { writers: ['daemon'] } },
  })
  report({ type: 'holder', pid: process.pid })
  await command('stop')
  await store.close()
} catch (error) {
  report({ type: 'refused', error: describeError(error) })
}
finish()
