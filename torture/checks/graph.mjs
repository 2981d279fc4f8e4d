// The dependency graph, in the manner of Elle's list-append checker. Nodes are transactions that
// committed (acknowledged, or of unknown outcome but with a value seen). Edges:
//   ww  T1 -> T2: T2 overwrote T1's version of a key (next value in the final list, or next version)
//   wr  T1 -> T2: T2 read the version T1 wrote
//   rw  T1 -> T2: T1 read a version that T2 then overwrote (an anti-dependency)
//   rt  T1 -> T2: T1 completed before T2 began (real time), through a chain of barrier nodes so
//                 the edges stay linear in the number of operations
// A serializable history has no cycle. Each strongly connected component is one anomaly, named
// after the weakest edge set that still closes a cycle in it: only ww or ww+wr (G0, G1c: an order
// cycle), exactly one rw (G-single: read skew), several rw (G2), or only with rt (stale read).
//
// The edges of a key are known once the key is closed (checks/engine.mjs); the search runs over
// windows of the history (window.mjs), so the graph in memory is a window's, not the run's.
import { matchesFinal } from './model.mjs'

const WW = 0
const WR = 1
const RW = 2
const RT = 3
const EDGE_NAMES = ['ww', 'wr', 'rw', 'rt']

/** Strongly connected components of more than one node, over nodes accepted by `inside` and edges of `allowed` types. */
function components(adj, nodeCount, allowed, inside = () => true) {
  const index = new Int32Array(nodeCount).fill(-1)
  const low = new Int32Array(nodeCount)
  const onStack = new Uint8Array(nodeCount)
  const stack = []
  const found = []
  let counter = 0
  for (let root = 0; root < nodeCount; root++) {
    if (index[root] !== -1 || !inside(root)) continue
    const frames = [[root, 0]]
    index[root] = low[root] = counter++
    stack.push(root)
    onStack[root] = 1
    while (frames.length > 0) {
      const frame = frames[frames.length - 1]
      const [v] = frame
      const edges = adj[v] ?? []
      let descended = false
      while (frame[1] < edges.length) {
        const e = edges[frame[1]++]
        if (!allowed[e & 3]) continue
        const w = e >> 2
        if (!inside(w)) continue
        if (index[w] === -1) {
          index[w] = low[w] = counter++
          stack.push(w)
          onStack[w] = 1
          frames.push([w, 0])
          descended = true
          break
        }
        if (onStack[w]) low[v] = Math.min(low[v], index[w])
      }
      if (descended) continue
      frames.pop()
      if (frames.length > 0) {
        const parent = frames[frames.length - 1][0]
        low[parent] = Math.min(low[parent], low[v])
      }
      if (low[v] === index[v]) {
        const component = []
        let w
        do {
          w = stack.pop()
          onStack[w] = 0
          component.push(w)
        } while (w !== v)
        if (component.length > 1) found.push(component)
      }
    }
  }
  return found
}

/** The shortest path from `from` to `to` over allowed edges inside `members`: [[node, edgeType]...], or undefined. */
function path(adj, from, to, allowed, members) {
  const previous = new Map([[from, undefined]])
  const queue = [from]
  for (let q = 0; q < queue.length; q++) {
    const v = queue[q]
    for (const e of adj[v] ?? []) {
      const w = e >> 2
      if (!allowed[e & 3] || !members.has(w)) continue
      if (w === to) {
        const steps = [[v, e & 3]]
        for (let x = v; previous.get(x) !== undefined;) {
          const [p, type] = previous.get(x)
          steps.unshift([p, type])
          x = p
        }
        return steps
      }
      if (previous.has(w)) continue
      previous.set(w, [v, e & 3])
      queue.push(w)
    }
  }
  return undefined
}

/** A cycle using only `allowed` edge types inside `members`, or undefined. */
function cycleWith(adj, nodeCount, members, allowed) {
  const [component] = components(adj, nodeCount, allowed, (n) => members.has(n))
  if (component === undefined) return undefined
  const set = new Set(component)
  return path(adj, component[0], component[0], allowed, set)
}

/** A cycle with exactly one rw edge (G-single) inside `members`, or undefined. */
function singleAntiDependency(adj, members) {
  const noRw = [true, true, false, false]
  let tries = 0
  for (const a of members) {
    for (const e of adj[a] ?? []) {
      if ((e & 3) !== RW || !members.has(e >> 2)) continue
      if (++tries > 2000) return undefined
      const back = path(adj, e >> 2, a, noRw, members)
      if (back !== undefined) return [[a, RW], ...back]
    }
  }
  return undefined
}

/** Whether `op` is a node of the graph: it committed (acknowledged, or of unknown outcome with a value seen). */
export function inGraph(op) {
  return op.status === 'ok' || (op.status === 'unknown' && !op.abort && op.txn.some((m) => m.val !== undefined && op.seen?.has(m.val)))
}

/**
 * The ww, wr and rw edges one key gives (its model: checks/model.mjs over the key's operations),
 * added to each original operation's `out` as target index * 4 + type. Every value these edges
 * start from is seen (in the final list, or read), so its writer is a node when it is ok or of
 * unknown outcome and not rolled back on purpose; version writers are acknowledged.
 */
export function keyEdges(model) {
  const edge = (a, b, type) => {
    if (a === undefined || b === undefined || a === b) return
    ;(a.out ??= []).push(b.index * 4 + type)
  }
  const writerNode = (value) => {
    const w = model.writerOfValue.get(value)
    if (w === undefined) return undefined
    const op = w.op.orig ?? w.op
    return op.status === 'ok' || (op.status === 'unknown' && !op.abort) ? op : undefined
  }
  // ww from each key's final list: consecutive values by different transactions.
  for (const record of model.final.values()) {
    let previous
    for (const value of record.l ?? []) {
      const node = writerNode(value)
      if (node === undefined) continue
      edge(previous, node, WW)
      previous = node
    }
  }
  // ww from versions: the acknowledged writer of v, then of v + 1.
  const versionNode = new Map()
  for (const [key, writers] of model.versionWriters) {
    const distinct = new Set(writers.map((w) => w.op.orig ?? w.op))
    if (distinct.size === 1) versionNode.set(key, [...distinct][0])
  }
  for (const [key, node] of versionNode) {
    const at = key.lastIndexOf('@')
    edge(node, versionNode.get(`${key.slice(0, at)}@${Number(key.slice(at + 1)) + 1}`), WW)
  }
  // wr and rw from each transaction's first read of a key (before it wrote the key itself).
  for (const o of model.observations) {
    if (!o.external) continue
    const reader = o.op.orig ?? o.op
    edge(versionNode.get(`${o.k}@${o.obs.v}`), reader, WR)
    edge(reader, versionNode.get(`${o.k}@${o.obs.v + 1}`), RW)
    const final = model.final.get(o.k)?.l ?? []
    if (!matchesFinal(model, o.k, o.obs)) continue // Reported as an order anomaly already.
    if (o.obs.len > 0) edge(writerNode(o.obs.last), reader, WR)
    for (let i = o.obs.len; i < final.length; i++) {
      const node = writerNode(final[i])
      if (node === undefined) continue
      edge(reader, node, RW)
      break
    }
  }
}

/**
 * The cycle search over a window of the history: `ops` (in invocation order, edges in `out`,
 * `graph` true for nodes) are searched as one graph, with rt edges among them. Each strongly
 * connected component is reported, unless `reportIf(firstInv)` says another window reports it.
 */
export function searchCycles(ops, report, { realtime = true, reportIf = () => true } = {}) {
  const local = new Map()
  const nodes = []
  for (const op of ops) {
    if (!op.graph) continue
    local.set(op.index, nodes.length)
    nodes.push(op)
  }
  const adj = []
  let nodeCount = nodes.length
  const edge = (a, b, type) => {
    if (a === b || a === undefined || b === undefined) return
    ;(adj[a] ??= []).push(b * 4 + type)
  }
  nodes.forEach((op, n) => {
    for (const e of op.out ?? []) edge(n, local.get(Math.floor(e / 4)), e % 4)
  })
  // rt: a barrier node after each run of completions; invocations hang off the latest barrier.
  if (realtime) {
    const events = []
    nodes.forEach((op, n) => {
      events.push([op.inv, 1, n])
      if (Number.isFinite(op.cmp)) events.push([op.cmp, 0, n])
    })
    // At equal times the invocation goes first: only a strictly earlier completion orders two operations.
    events.sort((x, y) => x[0] - y[0] || y[1] - x[1])
    let barrier
    let afterCompletion = false
    for (const [, kind, node] of events) {
      if (kind === 0) {
        if (!afterCompletion) {
          const next = nodeCount++
          edge(barrier, next, RT)
          barrier = next
        }
        edge(node, barrier, RT)
        afterCompletion = true
      } else {
        edge(barrier, node, RT)
        afterCompletion = false
      }
    }
  }

  const all = [true, true, true, true]
  for (const component of components(adj, nodeCount, all)) {
    const members = new Set(component)
    const first = Math.min(...component.filter((n) => n < nodes.length).map((n) => nodes[n].inv))
    if (!reportIf(first)) continue
    let name
    let kind
    let cycle = cycleWith(adj, nodeCount, members, [true, false, false, false])
    if (cycle !== undefined) [name, kind] = ['order-cycle', 'G0 (write cycle)']
    else if ((cycle = cycleWith(adj, nodeCount, members, [true, true, false, false])) !== undefined)
      [name, kind] = ['order-cycle', 'G1c (circular information flow)']
    else if ((cycle = singleAntiDependency(adj, members)) !== undefined) [name, kind] = ['read-skew', 'G-single (read skew)']
    else if ((cycle = cycleWith(adj, nodeCount, members, [true, true, true, false])) !== undefined)
      [name, kind] = ['read-skew', 'G2 (anti-dependency cycle)']
    else [name, kind, cycle] = ['stale-read', 'cycle through real-time order', path(adj, component[0], component[0], all, members)]
    report.add(
      name,
      `${kind} among ${component.filter((n) => n < nodes.length).length} transactions: ${describeCycle(cycle, nodes)}.`,
      cycleOps(cycle, nodes),
    )
  }
}

function describeCycle(cycle, ops) {
  if (cycle === undefined) return '(no cycle found)'
  const parts = []
  for (const [node, type] of cycle) {
    if (node < ops.length) parts.push(ops[node].id, `-${EDGE_NAMES[type]}->`)
    else if (parts.at(-1) !== '-rt->') parts.push('-rt->')
  }
  const first = cycle.find(([node]) => node < ops.length)
  if (first !== undefined) parts.push(ops[first[0]].id)
  return parts.join(' ')
}

function cycleOps(cycle, ops) {
  if (cycle === undefined) return []
  return [...new Set(cycle.map(([node]) => node).filter((n) => n < ops.length))].map((n) => ops[n])
}
