// The anomaly classes the checker reports, in the order of the summary table, and the collector
// that counts them and keeps the first examples of each.

export const ANOMALY_CLASSES = {
  'lost-update':
    'An acknowledged write is missing: an appended value not in the final list, fewer increments or versions than were acknowledged, an acknowledged patch that never appeared.',
  'aborted-read': 'G1a: a value written by a transaction that failed (or by nobody) was read, or is in the final state or the change feed.',
  'intermediate-read': "G1b: a read saw a transaction's intermediate state (its first append to a key but not its last).",
  'order-cycle':
    "List-append order: a read that is not a prefix of the key's final list, or a cycle of write-write / write-read dependencies (G0, G1c).",
  'read-skew': 'A dependency cycle through anti-dependencies: one rw edge is G-single (read skew), more is G2. Not serializable.',
  'stale-read':
    'A cycle that needs real-time order: an operation missed the effect of one that had completed before it began (not strictly serializable).',
  version:
    'Record versions: one version with two different states or two acknowledged writers, a version going backwards in real time, or an acknowledged write whose version does not hold its value.',
  duplicate: 'One operation applied twice: a unique value present twice in a list, more increments or versions than were ever issued.',
  feed: 'Change feed: a seq skipped or delivered twice in one stream, an acknowledged position lost, a redelivery that differs, a key whose versions skip or repeat, or a feed that ends elsewhere than the store.',
  partial: 'A transaction with an unknown outcome was partly applied: some of its values are present and others absent.',
  health: 'The store or a process failed outright: integrity_check not ok, a process that died on its own, a store that would not open.',
}

const EXAMPLES_KEPT = 3

export function createCollector() {
  const found = new Map(Object.keys(ANOMALY_CLASSES).map((name) => [name, { count: 0, examples: [] }]))
  return {
    /** Counts one anomaly of `name`; `ops` are the operations that show it. */
    add(name, message, ops = []) {
      const entry = found.get(name)
      if (entry === undefined) throw new Error(`Unknown anomaly class ${name}`)
      entry.count++
      if (entry.examples.length < EXAMPLES_KEPT) entry.examples.push({ message, ops: ops.map(describeOp) })
    },
    result() {
      return Object.fromEntries([...found].map(([name, entry]) => [name, { count: entry.count, examples: entry.examples }]))
    },
  }
}

function shortList(list) {
  if (!Array.isArray(list)) return String(list)
  if (list.length <= 4) return `[${list.join(' ')}]`
  return `[(${list.length - 3} more) ${list.slice(-3).join(' ')}]`
}

function describeState(state) {
  if (state === null || state === undefined) return 'missing'
  const list = state.l !== undefined ? shortList(state.l) : `[${state.len} values${state.len > 0 ? `, last ${state.last}` : ''}]`
  return `v${state.v} l=${list} n=${state.n} a=${state.a} b=${state.b}`
}

function describeMicro(m, r) {
  const target = m.f === 'readAll' ? `${m.lo}..${m.hi}` : m.k
  const args = m.f === 'patch' ? ` ${m.field}=${m.val}` : m.val !== undefined ? ` ${m.val}` : ''
  let out = ''
  if (r !== undefined) {
    if (m.f === 'read') out = ` -> ${describeState(r)}`
    else if (m.f === 'readAll')
      out = ` -> {${Object.entries(r ?? {})
        .map(([k, s]) => `${k}: ${describeState(s)}`)
        .join('; ')}}`
    else if (r?.v !== undefined) out = ` -> v${r.v}`
  }
  return `${m.f} ${target}${args}${out}`
}

/** One operation as a line of text: id, outcome, times, and each micro-op with what it returned. */
export function describeOp(op) {
  if (typeof op === 'string') return op
  const status =
    op.status === 'ok'
      ? 'ok'
      : op.status === 'fail'
        ? `failed ${op.error?.code ?? ''}`.trim()
        : `unknown${op.error ? ` ${op.error.code}` : ' (killed)'}`
  const when = `@${op.inv}..${Number.isFinite(op.cmp) ? op.cmp : '?'}us`
  const body = op.txn.map((m, i) => describeMicro(m, op.status === 'ok' ? op.res?.[i] : undefined)).join('; ')
  return `${op.id} ${status} ${when} ${op.kind}${op.abort ? ' (rolls back)' : ''}: ${body}`
}
