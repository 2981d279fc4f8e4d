// Runs the real scenario: a CLI adds features and tasks, two drivers take and finish tasks, a
// dashboard follows every change, and meanwhile a person edits todos.jsonl in an editor. Then it
// checks: every task done exactly once, the hand edit announced on the feed, the files one
// sorted JSON line per record, and `tandem doctor` happy with the folder.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { openStore } from 'tandemdb'
import { Checks, Child, makeDataDir, parseCliJson, runCli, runMain } from '../shared/processes.ts'
import type { CliMessage } from './cli.ts'
import type { DashboardMessage } from './dashboard.ts'
import type { DriverMessage } from './driver.ts'
import definition from './store.ts'

const FEATURES = Number(process.env.FEATURES ?? 8)
const TASKS = FEATURES * 5

runMain(90_000, async () => {
  const dataDir = makeDataDir('record-files')
  const records = join(dataDir, 'records')
  const env = { APP_DATA_DIR: dataDir, FEATURES: String(FEATURES), TASKS: String(TASKS) }
  console.log(`Record files in ${records}; a CLI adds ${FEATURES} features with ${TASKS} tasks, two drivers work them off.`)
  // Create the store (its folder and files) once, as the app's install step would.
  const store = await openStore({ ...definition, files: { dir: records }, role: 'cli' })
  const todos = store.collection('todos')

  const dashboard = new Child<DashboardMessage>('dashboard', join(import.meta.dirname, 'dashboard.ts'), env)
  const cli = new Child<CliMessage>('cli', join(import.meta.dirname, 'cli.ts'), env)
  const drivers = ['driver-a', 'driver-b'].map(
    (name) => new Child<DriverMessage>(name, join(import.meta.dirname, 'driver.ts'), { ...env, DRIVER_NAME: name }),
  )
  await Promise.all([dashboard.next('ready'), cli.next('ready'), ...drivers.map((d) => d.next('ready'))])
  for (const child of [cli, ...drivers]) child.send({ type: 'go' })

  // A person opens todos.jsonl in an editor while the drivers work, adds a line and saves. (An
  // editor takes no lock: an edit saved during another write of the same file could be lost,
  // so it is made once the CLI, the other writer of todos, is done.)
  const made = await cli.next('done')
  await todos.insert({ text: 'water the plants', from: 'main' }, { id: 'plants' })
  const file = join(records, 'collections', 'todos.jsonl')
  writeFileSync(file, `${readFileSync(file, 'utf8')}{"id":"by-hand","data":{"text":"added in the editor","from":"person"}}\n`)
  await todos.insert({ text: 'after the edit', from: 'main' }) // the next write of todos announces the edit

  const [a, b] = await Promise.all(drivers.map((d) => d.next('done')))
  await Promise.all([cli.succeeded(), ...drivers.map((d) => d.succeeded())])
  const head = (await store.describe()).changes.head
  dashboard.send({ type: 'stop', until: head + 1 } as { type: 'stop'; until: number })
  await todos.insert({ text: 'dashboard: stop here', from: 'main' })
  const handEdit = await dashboard.next('seen')
  const watched = await dashboard.next('done')
  await dashboard.succeeded()

  const checks = new Checks()
  const tasks = await store.collection('tasks').find()
  const finished = [...a!.finished, ...b!.finished]
  checks.check(
    tasks.length === made.tasks && tasks.every((t) => t.data.status === 'done'),
    `${tasks.length} tasks, all done (${a!.finished.length} by driver-a, ${b!.finished.length} by driver-b)`,
  )
  checks.check(
    finished.length === TASKS && new Set(finished).size === TASKS,
    `each task finished exactly once; ${a!.conflicts + b!.conflicts} races for the same task ended in VERSION_CONFLICT, not a double`,
  )
  checks.check(
    handEdit.id === 'by-hand' && handEdit.op === 'insert' && (await todos.get('by-hand'))?.data.from === 'person',
    `the line added in the editor is a record, announced on the dashboard's feed as ${handEdit.op} by "${handEdit.role}"`,
  )
  checks.check(
    watched.lastSeq >= head + 1,
    `the dashboard followed every change up to seq ${watched.lastSeq} (${JSON.stringify(watched.byRole)})`,
  )
  const lines = readFileSync(join(records, 'collections', 'tasks.jsonl'), 'utf8')
    .trimEnd()
    .split('\n')
  const ids = lines.map((line) => (JSON.parse(line) as { id: string }).id)
  checks.check(
    lines.length === TASKS && ids.every((id, i) => i === 0 || ids[i - 1]! < id),
    `tasks.jsonl: ${lines.length} lines, one record each, sorted by id (diff-friendly)`,
  )
  await store.close()
  const doctor = parseCliJson<{ ok: boolean }>(await runCli(['doctor', records, '--json'], { cwd: dataDir }))
  checks.check(doctor.ok, 'tandem doctor finds no orphaned temp files, dead locks or bad lines')
  await checks.finish(`${TASKS} tasks through a CLI, 2 drivers and a dashboard on 3 record files; each done once; a hand edit announced`)
})
