// The daemon works off tasks and handles the user's answers. It used to poll: reload the
// notifications and tasks tables every few seconds, and keep a "last seen" mark in memory that a
// restart lost. Now it is a durable consumer of the change feed: woken within milliseconds of a
// commit in any process, and resuming after its last acknowledged change when it restarts, even
// after kill -9. It also takes the scheduled backups (one process should; here, the daemon).
import { join } from 'node:path'
import { openStore, type Change } from 'tandemdb'
import { disconnect, receive, send } from '../shared/child.ts'
import definition, { dataDir, type Answer, type Task } from './store.ts'

export type DaemonMessage =
  | { type: 'ready'; pid: number }
  | { type: 'backup'; path: string; bytes: number }
  | { type: 'backup-failed'; message: string }
  | { type: 'stopped'; tasks: number; answers: number }

const store = await openStore({
  ...definition,
  role: 'daemon',
  // Online, verified backups every half second (an hour in real life), the newest 2 kept.
  backup: {
    everyMs: 500,
    keep: 2,
    dir: join(dataDir, 'backups'),
    onBackup: (b) => void send<DaemonMessage>({ type: 'backup', path: b.path, bytes: b.bytes }),
    onError: (error) => void send<DaemonMessage>({ type: 'backup-failed', message: String(error) }),
  },
})
const inbox = store.consumer('daemon-inbox', { collections: ['tasks', 'answers'], start: 'beginning' })
let tasks = 0
let answers = 0

async function workOff(change: Change): Promise<void> {
  const task = change.data as Task
  // The result, the question and the ack commit together, or none of them does: a crash at any
  // point leaves the task either done and acknowledged, or untouched and delivered again.
  await store.transaction(async (tx) => {
    await tx.collection('results').insert({ summary: `done: ${task.title}`, pid: process.pid }, { id: change.id })
    if (task.needsApproval)
      await tx.collection('notifications').insert({ taskId: change.id, question: `Publish the result of "${task.title}"?`, status: 'open' })
    await inbox.ack(change.seq)
  })
  tasks++
}

async function handleAnswer(change: Change): Promise<void> {
  const answer = change.data as Answer
  await store.transaction(async (tx) => {
    await tx.collection('notifications').patch(answer.notificationId, { status: 'answered', answer: answer.answer })
    await inbox.ack(change.seq)
  })
  answers++
}

void receive('stop').then(() => inbox.close())
const feed = await inbox.changes()
await send<DaemonMessage>({ type: 'ready', pid: process.pid })
for await (const change of feed) {
  if (change.op === 'insert' && change.collection === 'tasks') await workOff(change)
  else if (change.op === 'insert' && change.collection === 'answers') await handleAnswer(change)
  else await inbox.ack(change.seq)
}
console.log(`stopping after ${tasks} tasks and ${answers} answers`)
await store.close()
await send<DaemonMessage>({ type: 'stopped', tasks, answers })
disconnect()
