import { matchesFinal, writerOf } from './model.mjs'

// Checks on the values themselves: each appended or patched value is unique in the run, so where
// it shows up says who wrote it. Lost updates, aborted and intermediate reads, duplicates, reads
// that are not a prefix of the final list, and transactions of unknown outcome applied in part.

/** Lists every value of `state` that no successful or pending operation could have put there. */
function checkValues(model, add, state, k, where, reader) {
  if (state.l !== undefined) {
    const seen = new Set()
    for (const value of state.l) {
      if (seen.has(value))
        add('duplicate', `${value} appears twice in ${where} of ${k}.`, [writerOf(model, value)?.op, reader], `dup:${where}:${value}`)
      seen.add(value)
      checkOrigin(model, add, value, k, 'append', where, reader)
    }
  } else if (state.last != null) {
    // Logged reads carry the last value only; the rest is checked through the final list they must prefix.
    checkOrigin(model, add, state.last, k, 'append', where, reader)
  }
  for (const field of ['a', 'b']) if (state[field] != null) checkOrigin(model, add, state[field], k, field, where, reader)
}

function checkOrigin(model, add, value, k, field, where, reader) {
  const writer = writerOf(model, value)
  if (writer === undefined)
    return add('aborted-read', `${where} of ${k} holds ${value}, which no operation wrote.`, [reader], `origin:${value}`)
  const sameTarget = writer.k === k && (field === 'append' ? writer.f !== 'patch' : writer.f === 'patch' && writer.field === field)
  if (!sameTarget)
    return add(
      'aborted-read',
      `${where} of ${k} holds ${value} in ${field === 'append' ? 'its list' : `field ${field}`}, but it was written to ${writer.k} (${writer.f}${writer.field ? ` ${writer.field}` : ''}).`,
      [writer.op, reader],
      `origin:${value}`,
    )
  if (writer.op.status === 'fail') {
    add(
      'aborted-read',
      `${where} of ${k} holds ${value}, written by ${writer.op.id}, which failed (${writer.op.error?.code ?? 'error'}): G1a.`,
      [writer.op, reader],
      `g1a:${value}:${where === 'the final state' ? 'final' : 'read'}`,
    )
  }
}

/** G1b: the reader saw a value that its writer later superseded within the same transaction. */
function checkIntermediate(model, add, o) {
  const last = o.obs.last
  if (last != null) {
    const writer = model.writerOfValue.get(last)
    if (writer !== undefined && writer.op.id !== o.op.id && writer.k === o.k) {
      const final = model.lastAppend.get(writer.op).get(o.k)
      if (final !== last)
        add(
          'intermediate-read',
          `${o.op.id} read ${o.k} ending in ${last}, but ${writer.op.id} appended ${final} after it in the same transaction.`,
          [writer.op, o.op],
        )
    }
  }
  for (const field of ['a', 'b']) {
    const value = o.obs[field]
    const writer = value == null ? undefined : model.writerOfValue.get(value)
    if (writer === undefined || writer.op.id === o.op.id || writer.f !== 'patch' || writer.k !== o.k || writer.field !== field) continue
    const final = model.lastPatch.get(writer.op).get(`${o.k}.${field}`)
    if (final !== value)
      add(
        'intermediate-read',
        `${o.op.id} read ${o.k}.${field} = ${value}, which ${writer.op.id} overwrote with ${final} in the same transaction.`,
        [writer.op, o.op],
      )
  }
}

/** Why `state` (of key k) is not a prefix of k's final list, or undefined when it is. */
function notPrefix(model, k, state) {
  if (state.len === 0 || matchesFinal(model, k, state)) return undefined
  const final = model.final.get(k)?.l ?? []
  if (state.l !== undefined) {
    const at = prefixMismatch(state.l, final)
    return {
      at,
      value: state.l[at],
      text: `${state.l[at]} at position ${at}, where the final list has ${final[at] ?? 'nothing'}`,
      others: [state.l[at], final[at]],
    }
  }
  const at = state.len - 1
  return {
    at,
    value: state.last,
    text: `${state.len} values ending in ${state.last}, which are not the first ${state.len} of the final list (${final.length} values${final[at] !== undefined ? `, value ${at} is ${final[at]}` : ''})`,
    others: [state.last, final[at]],
  }
}

/** The index where `list` stops being a prefix of `final`, or -1. */
export function prefixMismatch(list, final) {
  for (let i = 0; i < list.length; i++) if (list[i] !== final[i]) return i
  return -1
}

export function checkLists(model, report) {
  const reported = new Set()
  // One report per distinct fact: a duplicate in the final list is seen again by every later read.
  const add = (name, message, ops, dedupe) => {
    if (dedupe !== undefined) {
      if (reported.has(dedupe)) return
      reported.add(dedupe)
    }
    report.add(name, message, ops.filter(Boolean))
  }

  for (const [k, record] of model.final) checkValues(model, add, record, k, 'the final state', undefined)
  for (const o of model.observations) {
    checkValues(model, add, o.obs, o.k, `a read by ${o.op.id}`, o.op)
    checkIntermediate(model, add, o)
    if (!model.finalKnown) continue
    const wrong = notPrefix(model, o.k, o.obs)
    if (wrong !== undefined) {
      add('order-cycle', `${o.op.id} read ${o.k} with ${wrong.text}: the read is not a prefix of the final list (incompatible order).`, [
        o.op,
        ...wrong.others.map((v) => writerOf(model, v)?.op),
      ])
    }
  }
  // The change feed publishes every version, intermediate ones included: no G1b check there.
  for (const change of model.feedChanges) {
    if (change.c !== 'kv' || change.d === undefined) continue
    checkValues(model, add, change.d, change.id, `change seq ${change.seq}`, undefined)
    const wrong = model.finalKnown ? notPrefix(model, change.id, change.d) : undefined
    if (wrong !== undefined)
      add(
        'order-cycle',
        `Change seq ${change.seq} (${change.id} v${change.v}) has ${wrong.text}.`,
        wrong.others.map((v) => writerOf(model, v)?.op),
        `feedorder:${change.id}:${wrong.at}`,
      )
  }

  // Lost updates: every acknowledged append is in the final list; every acknowledged patch was seen
  // (only checkable when the feed holds every version, or a later patch may hide it).
  if (model.finalKnown) {
    const finalSets = new Map()
    const finalSet = (k) => {
      if (!finalSets.has(k)) finalSets.set(k, new Set(model.final.get(k)?.l ?? []))
      return finalSets.get(k)
    }
    for (const [value, writer] of model.writerOfValue) {
      if (writer.op.status !== 'ok') continue
      if (writer.f !== 'patch') {
        const list = model.final.get(writer.k)?.l ?? []
        if (!finalSet(writer.k).has(value))
          add(
            'lost-update',
            `${writer.op.id} appended ${value} to ${writer.k} and was acknowledged, but the final list (${list.length} values) lacks it.`,
            [writer.op],
          )
      } else if (model.feedComplete && !model.seenValues.has(value)) {
        add(
          'lost-update',
          `${writer.op.id} set ${writer.k}.${writer.field} = ${value} and was acknowledged, but no version of ${writer.k} in the change feed ever held it.`,
          [writer.op],
        )
      }
    }
  }
  // A transaction of unknown outcome is all there or not there at all. A model of one key leaves
  // this to the engine, which sees the transaction's every key.
  if (model.slice) return
  for (const op of model.ops) {
    if (op.status !== 'unknown') continue
    checkPartial(
      op,
      (v) => model.seenValues.has(v),
      (m) => m.f !== 'patch' || model.feedComplete,
      add,
    )
  }
}

/**
 * Reports `op` (of unknown outcome) when some of its values are present (`seen`) and others are
 * not, or when it always rolls back and any is. `checkable(m)` says whether a value's absence can be
 * told (a patch's only when the feed holds every version of its key).
 */
export function checkPartial(op, seen, checkable, add) {
  const values = op.txn.filter((m) => m.val !== undefined && checkable(m)).map((m) => m.val)
  if (values.length < 2) return
  const present = values.filter(seen)
  if (present.length > 0 && present.length < values.length) {
    add(
      'partial',
      `${op.id} (outcome unknown) is partly applied: ${present.join(', ')} present, ${values.filter((v) => !present.includes(v)).join(', ')} absent.`,
      [op],
    )
  }
  if (op.abort && present.length > 0) add('aborted-read', `${op.id} always rolls back, yet ${present.join(', ')} became visible.`, [op])
}
