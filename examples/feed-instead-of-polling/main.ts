// A daemon, an API server and the `tandem` CLI on one data directory, with the change feed where
// each used to poll. main.ts plays the user: it posts tasks to the API and listens to the API's
// event stream (the browser), tails the daemon's questions with `tandem watch` and answers them
// with `tandem put` (the terminal), kills the daemon with SIGKILL halfway and starts it again,
// and finally checks the store, the backups and `tandem doctor`.
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { openStore, type Change } from 'tandemdb'
import { Checks, Child, fail, makeDataDir, parseCliJson, runCli, runMain, startCli, Tally } from '../shared/processes.ts'
import type { DaemonMessage } from './daemon.ts'
import type { ServerMessage } from './server.ts'
import definition, { type Notification } from './store.ts'

const TASKS = 2 * Math.round(Number(process.env.TASKS ?? 100) / 2)
const needsApproval = (i: number) => i % 25 === 0

runMain(120_000, async () => {
  const dataDir = makeDataDir('feed-instead-of-polling')
  const env = { APP_DATA_DIR: dataDir }
  const here = import.meta.dirname
  const tandem = (...args: string[]) => runCli(args, { cwd: here, env })
  console.log(`Store in ${dataDir}.`)

  // The daemon and the API server.
  let daemon = new Child<DaemonMessage>('daemon', join(here, 'daemon.ts'), env)
  const server = new Child<ServerMessage>('server', join(here, 'server.ts'), env)
  const [{ pid: firstPid }, { port }] = await Promise.all([daemon.next('ready'), server.next('listening')])
  const api = `http://127.0.0.1:${port}`

  let stopping = false
  // The browser: one event per result, pushed by the server as the daemon commits it.
  const results = new Tally()
  const resultAt = new Map<string, number>()
  let duplicateEvents = 0
  const events = await fetch(`${api}/events`)
  void (async () => {
    let buffer = ''
    for await (const chunk of events.body!.pipeThrough(new TextDecoderStream())) {
      buffer += chunk
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const { taskId } = JSON.parse(buffer.slice('data: '.length, end)) as { taskId: string }
        buffer = buffer.slice(end + 2)
        if (resultAt.has(taskId)) duplicateEvents++
        resultAt.set(taskId, performance.now())
        results.add()
      }
    }
  })().then(
    () => void (stopping || fail('the server ended its event stream early')),
    (error: unknown) => void (stopping || fail(`the server's event stream failed: ${String(error)}`)),
  )

  // The terminal: `tandem watch` tails the daemon's questions; each is answered with `tandem put`.
  const watch = startCli(['watch', '--collection', 'notifications', '--since', 'beginning', '--json'], { cwd: here, env })
  const watchExited = new Promise((resolve) => watch.on('exit', resolve))
  watch.on('exit', (code) => void (stopping || fail(`tandem watch exited with code ${code} before it was stopped`)))
  const answered = new Tally()
  let answering = Promise.resolve()
  createInterface({ input: watch.stdout! }).on('line', (line) => {
    const change = JSON.parse(line) as Change<Notification>
    if (change.op === 'insert') {
      console.log(`  tandem watch: daemon asks "${change.data?.question}"; answering with tandem put answers`)
      answering = answering.then(async () => {
        const put = await tandem('put', 'answers', '--data', JSON.stringify({ notificationId: change.id, answer: 'yes' }))
        // Unanswered, the question would be waited for in vain: fail now, saying why.
        if (put.code !== 0) await fail(`tandem put answers exited with code ${put.code}: ${put.stderr.trim()}`)
      })
    } else if (change.data?.status === 'answered') answered.add()
  })

  const postedAt = new Map<string, number>()
  const post = async (i: number) => {
    const response = await fetch(`${api}/tasks`, {
      method: 'POST',
      body: JSON.stringify({ title: `task ${i}`, needsApproval: needsApproval(i) }),
    })
    if (response.status !== 201) throw new Error(`POST /tasks answered ${response.status}: ${await response.text()}`)
    postedAt.set(((await response.json()) as { id: string }).id, performance.now())
  }

  // First half, then kill -9 the daemon once all their results have arrived.
  for (let i = 0; i < TASKS / 2; i++) await post(i)
  await results.reach(TASKS / 2)
  const latencies = [...postedAt].map(([id, at]) => resultAt.get(id)! - at).sort((a, b) => a - b)
  console.log(
    `${TASKS / 2} results pushed to the browser; from the API's reply to the result's event: median ${latencies[latencies.length >> 1]!.toFixed(1)} ms, slowest ${latencies.at(-1)!.toFixed(1)} ms. Killing the daemon with SIGKILL.`,
  )
  daemon.process.kill('SIGKILL')
  await daemon.exited

  // While it is down, the API and the CLI keep taking tasks: they only need the store.
  for (let i = TASKS / 2; i < TASKS; i++) await post(i)
  const put = await tandem('put', 'tasks', '--data', JSON.stringify({ title: 'task from the terminal', needsApproval: true }), '--json')
  if (put.code !== 0) throw new Error(`tandem put tasks failed: ${put.stderr}`)
  postedAt.set((JSON.parse(put.stdout) as { id: string }).id, performance.now())
  const questions = [...Array(TASKS).keys()].filter(needsApproval).length + 1

  // The daemon again: its durable consumer resumes after its last ack.
  daemon = new Child<DaemonMessage>('daemon', join(here, 'daemon.ts'), env)
  const { pid: secondPid } = await daemon.next('ready')
  console.log(`Daemon restarted (pid ${secondPid}); ${TASKS / 2 + 1} tasks came in while it was down.`)
  await results.reach(TASKS + 1)
  await answered.reach(questions)
  await answering
  console.log(`All ${TASKS + 1} results pushed and all ${questions} questions answered; waiting for the daemon's third scheduled backup.`)
  void daemon.next('backup-failed').then(
    ({ message }) => fail(`a scheduled backup failed: ${message}`),
    () => undefined,
  )
  const backups: string[] = []
  while (backups.length < 3) backups.push((await daemon.next('backup')).path)

  // Housekeeping while everything runs: who has the store open, its WAL, the daemon's consumer.
  const status = await tandem('status', '--json')
  const described = parseCliJson<{
    storage: { walBytes?: number; walLimitBytes?: number }
    processes: { role: string; pid: number }[]
    consumers: { name: string; position: number; behind: number }[]
  }>(status)
  const live = described.processes.map((p) => `${p.role} (pid ${p.pid})`).join(', ')
  console.log(
    `  tandem status: open by ${live}; WAL ${described.storage.walBytes} of ${described.storage.walLimitBytes} bytes before a checkpoint; consumers ${described.consumers.map((c) => `${c.name} at seq ${c.position}`).join(', ')}`,
  )

  daemon.send({ type: 'stop' })
  server.send({ type: 'stop' })
  stopping = true
  watch.kill('SIGINT')
  const stopped = await daemon.next('stopped')
  await Promise.all([daemon.succeeded(), server.succeeded(), watchExited])

  const checks = new Checks()
  checks.check(
    described.processes.some((p) => p.role === 'daemon' && p.pid === secondPid) && described.processes.some((p) => p.role === 'server'),
    `tandem status listed the live daemon and server`,
  )
  const store = await openStore({ ...definition, dataDir, roles: { ...definition.roles, checker: {} }, role: 'checker' })
  const tasks = await store.collection('tasks').count()
  const stored = await store.collection('results').find()
  const byFirst = stored.filter((r) => r.data.pid === firstPid).length
  const bySecond = stored.filter((r) => r.data.pid === secondPid).length
  checks.check(
    tasks === TASKS + 1 && stored.length === tasks && [...postedAt.keys()].every((id) => stored.some((r) => r.id === id)),
    `${tasks} tasks (${TASKS} over HTTP, 1 from the CLI), ${stored.length} results, one per task`,
  )
  checks.check(
    byFirst === TASKS / 2 && bySecond === TASKS / 2 + 1 && stopped.tasks === bySecond,
    `the daemon killed with SIGKILL did ${byFirst}; the restarted one resumed after its last ack and did the ${bySecond} that came in meanwhile, none twice`,
  )
  checks.check(
    resultAt.size === tasks && duplicateEvents === 0,
    `the browser got each of the ${resultAt.size} results once, pushed, without polling (${duplicateEvents} twice)`,
  )
  const answeredCount = await store.collection('notifications').count({ status: 'answered' })
  checks.check(
    answeredCount === questions,
    `${questions} questions seen live by tandem watch, answered with tandem put, applied by the daemon: ${answeredCount} answered`,
  )
  await store.close()

  // Backups: rotated down to `keep`, each one a complete store.
  const files = readdirSync(join(dataDir, 'backups')).sort()
  const kept = files.filter((name) => name.endsWith('.db'))
  // A backup in progress writes a temp file first and renames it when verified: the kill -9 may
  // have caught the first daemon mid-backup, leaving its temp file (never a partial backup).
  const interrupted = files.filter((name) => name.endsWith('.tmp'))
  if (interrupted.length > 0)
    console.log(`  note: the kill -9 interrupted a backup: its temp file ${interrupted.join(', ')} was left in backups/ (see README)`)
  const newest = parseCliJson<{ collections: { name: string; count: number }[] }>(
    await tandem('status', join(dataDir, 'backups', kept.at(-1)!), '--json'),
  )
  const inBackup = newest.collections.find((c) => c.name === 'tasks')?.count
  checks.check(
    kept.length === 2 && inBackup !== undefined && inBackup > 0,
    `${backups.length}+ scheduled backups taken while everyone wrote, ${kept.length} kept; the newest holds ${inBackup} tasks`,
  )

  const doctor = await tandem('doctor', '--json')
  const report = parseCliJson<{ ok: boolean; checks: { title: string; status: string; summary: string }[] }>(doctor)
  for (const c of report.checks) console.log(`  tandem doctor: ${c.status.padEnd(4)} ${c.title}: ${c.summary}`)
  checks.check(doctor.code === 0 && report.ok, `tandem doctor: every check ok (exit ${doctor.code})`)

  await checks.finish(
    `${tasks} tasks through API, store and daemon with the change feed instead of polling; a kill -9 lost and repeated nothing; backups and doctor ok`,
  )
})
