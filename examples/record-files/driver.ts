// The driver: two of them (an agent each) take open tasks and finish them. Taking a task is a
// write with ifVersion: when both go for the same task, one gets VERSION_CONFLICT and moves on,
// so no task is ever done twice.
import { setTimeout } from 'node:timers/promises'
import { openStore, TandemError } from 'tandemdb'
import { disconnect, receive, send } from '../shared/child.ts'
import definition from './store.ts'

export type DriverMessage = { type: 'ready' } | { type: 'done'; finished: string[]; conflicts: number }

const name = process.env.DRIVER_NAME ?? 'driver'
const expected = Number(process.env.TASKS ?? 40)
const store = await openStore({ ...definition, role: 'driver' })
const tasks = store.collection('tasks')
await send<DriverMessage>({ type: 'ready' })
await receive('go')
const finished: string[] = []
let conflicts = 0
while ((await tasks.count({ status: 'done' })) < expected) {
  const open = await tasks.find({ where: { status: 'open' }, limit: 5 })
  if (open.length === 0) {
    await setTimeout(10)
    continue
  }
  const task = open[Math.floor(Math.random() * open.length)]!
  try {
    const taken = await tasks.replace(task.id, { ...task.data, status: 'taken', takenBy: name }, { ifVersion: task.version })
    await setTimeout(Math.random() * 5) // the work
    await tasks.patch(task.id, { status: 'done' }, { ifVersion: taken.version })
    finished.push(task.id)
  } catch (error) {
    if (!(error instanceof TandemError && error.code === 'VERSION_CONFLICT')) throw error
    conflicts++
  }
}
await send<DriverMessage>({ type: 'done', finished, conflicts })
await store.close()
disconnect()
