// Record versions as readers and writers saw them. Each write adds one to a record's version, so a
// version names one state: two different states (or two acknowledged writers) at one version mean
// a write was lost or applied twice; a read that returns an older version than something that
// completed before it began means time ran backwards for that record.
import { stateKey } from './model.mjs'

export function checkVersions(model, report) {
  // One state per (key, version), from reads, the change feed and the final state.
  const states = new Map()
  const record = (k, v, state, source, ops) => {
    if (v === 0) return
    const key = `${k}@${v}`
    const text = stateKey(state)
    const known = states.get(key)
    if (known === undefined) states.set(key, { text, state, source, ops })
    else if (known.text !== text)
      report.add('version', `${k} version ${v} is two different states: ${source} and ${known.source} disagree.`, [...known.ops, ...ops])
  }
  for (const [k, r] of model.final) record(k, r.v, r, 'the final state', [])
  // A change's data is the state of the version it says it is of (dv; by default its own).
  for (const c of model.feedChanges) if (c.c === 'kv' && c.d !== undefined) record(c.id, c.dv ?? c.v, c.d, `change seq ${c.seq}`, [])
  for (const o of model.observations) if (!o.obs.missing) record(o.k, o.obs.v, o.obs, `the read by ${o.op.id}`, [o.op])

  // One acknowledged writer per (key, version), and the state at that version holds what it wrote.
  for (const [key, writers] of model.versionWriters) {
    const distinct = [...new Set(writers.map((w) => w.op))]
    if (distinct.length > 1)
      report.add('version', `${distinct.length} acknowledged writes all produced ${key.replace('@', ' version ')}.`, distinct)
    const state = states.get(key)
    if (state === undefined) continue
    const [k] = key.split('@')
    for (const { op, i } of writers) {
      const m = op.txn[i]
      if (m.f === 'append' || m.f === 'cas') {
        if (state.state.last !== m.val)
          report.add(
            'version',
            `${op.id} appended ${m.val} as ${k} v${key.split('@')[1]}, but that version's list ends in ${state.state.last} (${state.source}).`,
            [op, ...state.ops],
          )
      } else if (m.f === 'patch') {
        const value = state.state[m.field]
        if (value !== m.val)
          report.add(
            'version',
            `${op.id} set ${k}.${m.field} = ${m.val} as v${key.split('@')[1]}, but that version holds ${value} (${state.source}).`,
            [op, ...state.ops],
          )
      }
    }
  }

  // Versions never go backwards in real time: whatever completed before an operation began, the
  // operation sees at least that version of the record.
  const byKey = new Map()
  const push = (k, v, op) => {
    if (!byKey.has(k)) byKey.set(k, [])
    byKey.get(k).push({ v, op })
  }
  for (const o of model.observations) push(o.k, o.obs.v, o.op)
  for (const [key, writers] of model.versionWriters) {
    const [k, v] = key.split('@')
    for (const w of writers) push(k, Number(v), w.op)
  }
  for (const [k, seen] of byKey) {
    const byCompletion = [...seen].sort((x, y) => x.op.cmp - y.op.cmp)
    const byInvocation = [...seen].sort((x, y) => x.op.inv - y.op.inv)
    let j = 0
    let max
    for (const o of byInvocation) {
      while (j < byCompletion.length && byCompletion[j].op.cmp < o.op.inv) {
        if (max === undefined || byCompletion[j].v > max.v) max = byCompletion[j]
        j++
      }
      if (max !== undefined && o.v < max.v) {
        report.add(
          'version',
          `${o.op.id} saw ${k} at version ${o.v} after ${max.op.id} had completed having seen or written version ${max.v}: the version went backwards.`,
          [max.op, o.op],
        )
      }
    }
  }
}
