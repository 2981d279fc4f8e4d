// Runs the editor's auto-save and the timer API at the same time against one activity record,
// then reads the record's whole history from the change log and checks every version: an editor
// write never changed a time field, a timer write never changed a content field, and neither
// side's counter ever went back. Finally it shows what the old whole-document save from a stale
// copy would do: with `ifVersion` it is refused instead of erasing the timer's data.
import { isDeepStrictEqual } from 'node:util'
import { join } from 'node:path'
import { openStore, TandemError } from 'tandemdb'
import { Checks, Child, makeDataDir, runMain } from '../shared/processes.ts'
import type { EditorMessage } from './editor.ts'
import definition, { ACTIVITY_ID, CONTENT_FIELDS, TIME_FIELDS, type Activity } from './store.ts'
import type { TimerMessage } from './timer.ts'

const SAVES = Number(process.env.SAVES ?? 400)

runMain(90_000, async () => {
  const dataDir = makeDataDir('editor-and-timer')
  const env = { APP_DATA_DIR: dataDir, SAVES: String(SAVES) }
  console.log(`Store in ${dataDir}; the editor auto-saves ${SAVES} times while the timer starts and stops ${SAVES} times, on one record.`)

  const editor = new Child<EditorMessage>('editor', join(import.meta.dirname, 'editor.ts'), env)
  const timer = new Child<TimerMessage>('timer', join(import.meta.dirname, 'timer.ts'), env)
  await Promise.all([editor.next('ready'), timer.next('ready')])
  editor.send({ type: 'go' })
  timer.send({ type: 'go' })
  const [edited, timed] = await Promise.all([editor.next('done'), timer.next('done')])
  await editor.succeeded()

  const store = await openStore({ ...definition, dataDir, role: 'editor' })
  const activities = store.collection('activities')
  const checks = new Checks()
  const final = await activities.get(ACTIVITY_ID)
  if (final === undefined) throw new Error(`${ACTIVITY_ID} is missing`)

  // Every version of the record, in order, from the change log (each write appended its data).
  const history: { version: number; role: string; data: Activity }[] = []
  for await (const change of store.changes({ collections: ['activities'], ids: [ACTIVITY_ID], since: 'beginning' })) {
    history.push({ version: change.version, role: change.role, data: change.data! })
    if (change.version === final.version) break
  }
  const fields = (data: Activity, names: (keyof Activity)[]) => names.map((name) => data[name])
  let editorWrites = 0
  let timerWrites = 0
  let overwrites = 0
  let rollbacks = 0
  let switches = 0
  for (let i = 1; i < history.length; i++) {
    const before = history[i - 1]!
    const after = history[i]!
    if (after.role === 'editor') editorWrites++
    if (after.role === 'timer') timerWrites++
    if (after.role !== before.role) switches++
    const untouched = after.role === 'editor' ? TIME_FIELDS : CONTENT_FIELDS
    if (!isDeepStrictEqual(fields(before.data, untouched), fields(after.data, untouched))) overwrites++
    if (after.data.editorRev < before.data.editorRev || after.data.timerRev < before.data.timerRev) rollbacks++
  }
  const gapless = history.every((h, i) => h.version === i + 1)
  checks.check(
    gapless && history.length === 1 + SAVES + SAVES,
    `versions 1..${final.version}: the seed, then ${editorWrites} editor and ${timerWrites} timer writes, none missing`,
  )
  checks.check(
    switches >= SAVES / 10,
    `the two processes really wrote at the same time: the writer changed ${switches} times between consecutive versions`,
  )
  checks.check(overwrites === 0, `no write changed the other process's fields (${overwrites} did)`)
  checks.check(rollbacks === 0, `neither side's counter ever went back (${rollbacks} times it did)`)
  checks.check(
    final.data.editorRev === edited.saves && final.data.timerRev === timed.writes,
    `final record: editorRev ${final.data.editorRev}/${edited.saves}, timerRev ${final.data.timerRev}/${timed.writes}`,
  )
  checks.check(
    final.data.sets.length === Math.floor(SAVES / 10) && final.data.elapsedMs === timed.elapsedMs,
    `final record: ${final.data.sets.length} sets added by the editor, elapsedMs ${final.data.elapsedMs} as the timer last computed it`,
  )

  // The old way: save the whole document from a copy read earlier. The timer writes in between;
  // a plain replace would now erase that stop. With ifVersion the stale save is refused instead.
  const copy = await activities.get(ACTIVITY_ID)
  timer.send({ type: 'tick' })
  const ticked = await timer.next('ticked')
  let refused = 'accepted'
  try {
    await activities.replace(ACTIVITY_ID, { ...copy!.data, notes: 'saved from a stale copy' }, { ifVersion: copy!.version })
  } catch (error) {
    refused = error instanceof TandemError ? error.code : String(error)
  }
  const afterStale = await activities.get(ACTIVITY_ID)
  checks.check(
    refused === 'VERSION_CONFLICT' && afterStale?.version === ticked.version && afterStale.data.timerRev === timed.writes + 1,
    `a whole-document save from a stale copy is refused with ${refused}; the timer's stop (version ${ticked.version}) is kept`,
  )
  const patched = await activities.patch(ACTIVITY_ID, { notes: 'saved with patch' })
  checks.check(
    patched.data.timerRev === timed.writes + 1 && patched.data.notes === 'saved with patch',
    "the same save as a patch of the content fields goes through and keeps the timer's fields",
  )
  await store.close()
  await timer.succeeded()

  await checks.finish(
    `${editorWrites + timerWrites} writes of one record from 2 processes at the same time; no write ever touched the other's fields`,
  )
})
