// Checks a run directory in bounded memory: the workers' logs are merged by time as they are
// read (each log is already in time order: one process at a time appends to it, on a clock every
// process shares), and the follower's log and the final records (final.jsonl, in key order) are
// read only as far as the engine needs to close the next key (checks/engine.mjs).
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { getHeapStatistics } from 'node:v8'
import { BACKENDS } from './backends.mjs'
import { createCollector } from './checks/anomalies.mjs'
import { Engine } from './checks/engine.mjs'
import { result } from './checker.mjs'
import { feedChange, finalHeader, workerNames } from './history.mjs'
import { logEntries, logExists, readLog } from './log.mjs'

/** How far (µs of history) the engine is fed between two attempts to close keys. */
const STEP_US = 250_000

/** Pulls from an async iterator a batch at a time; `done` once it is exhausted. */
class Source {
  #iterator
  done = false
  constructor(iterable) {
    this.#iterator = iterable[Symbol.asyncIterator]()
  }
  async next() {
    if (this.done) return undefined
    const { value, done } = await this.#iterator.next()
    if (done) this.done = true
    return done ? undefined : value
  }
}

/**
 * Checks the run in `dir`. Options: slackMs, windowMs, maxHeld (see checks/engine.mjs). Returns
 * the report, with `checker`: its time, peak memory and the most operations it held at once.
 */
export async function checkRun(dir, options = {}) {
  const started = performance.now()
  const cpu = process.cpuUsage()
  let peakHeap = 0
  const sampler = setInterval(() => (peakHeap = Math.max(peakHeap, getHeapStatistics().used_heap_size)), 100)
  try {
    const run = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'))
    const logs = join(dir, 'logs')
    const header = finalHeader(dir)
    const extra = existsSync(join(dir, 'health.json')) ? JSON.parse(readFileSync(join(dir, 'health.json'), 'utf8')) : {}
    const collector = createCollector()
    for (const problem of extra.health ?? []) collector.add('health', `${problem.what}: ${problem.detail}`)
    const followerPath = join(logs, 'follower.log')
    const engine = new Engine(collector, {
      gapFreeSeq: BACKENDS[run.backend]?.gapFreeSeq ?? true,
      finalKnown: header !== undefined,
      head: header?.head,
      hasFeed: logExists(followerPath),
      keys: run.keys,
      keyShiftMs: run.keyShiftMs,
      slackMs: options.slackMs,
      windowMs: options.windowMs,
      maxHeld: options.maxHeld,
      stragglers: extra.stragglers,
      stopAt: extra.stopAt,
      hangMs: extra.hangMs,
    })
    const feed = new Source(logEntries(followerPath))
    const final = new Source(header === undefined ? [] : logEntries(join(dir, 'final.jsonl')))
    let torn = 0
    const health = (what, detail) => collector.add('health', `${what}: ${detail}`)
    const onFollower = (e) => {
      if (e.t === 'crash') health('crash', `follower: ${e.error?.code} ${e.error?.msg}`)
      else if (e.t === 'torn') torn++
      else engine.feedEntry(e.t === 'ch' ? { t: 'ch', ...feedChange(e) } : e)
    }
    const pump = async () => {
      for (;;) {
        const need = engine.advance()
        if (need === 'feed') {
          for (let i = 0; i < 1000; i++) {
            const e = await feed.next()
            if (e === undefined) {
              engine.feedEnded()
              break
            }
            onFollower(e)
          }
        } else if (need === 'final') {
          for (let i = 0; i < 200; i++) {
            const r = await final.next()
            if (r === undefined) {
              engine.finalEnded()
              break
            }
            engine.finalRecord(r)
          }
        } else return
      }
    }

    // The workers' logs, merged by time.
    const workers = []
    for (const name of workerNames(logs)) {
      const source = new Source(logEntries(join(logs, `${name}.log`)))
      workers.push({ name, source, incarnation: undefined, head: await source.next() })
    }
    let nextStep = 0
    for (;;) {
      let w
      for (const candidate of workers)
        if (candidate.head !== undefined && (w === undefined || (candidate.head.at ?? 0) < (w.head.at ?? 0))) w = candidate
      if (w === undefined) break
      const e = w.head
      w.head = await w.source.next()
      switch (e.t) {
        case 'start':
          if (w.incarnation !== undefined) engine.sessionEnded(`${w.name}.${w.incarnation}`, e.at)
          w.incarnation = e.inc
          break
        case 'inv':
          engine.invoke({
            id: e.id,
            session: `${w.name}.${w.incarnation}.${e.c}`,
            inv: e.at,
            kind: e.kind,
            ...(e.abort ? { abort: true } : {}),
            txn: e.ops,
          })
          break
        case 'ok':
        case 'fail':
        case 'unk': {
          const outcome =
            e.t === 'ok'
              ? { status: 'ok', cmp: e.at, res: e.res }
              : e.t === 'fail'
                ? { status: 'fail', cmp: e.at, error: { code: e.code, msg: e.msg } }
                : { status: 'unknown', error: { code: e.code, msg: e.msg }, errorAt: e.at }
          if (!engine.settle(e.id, outcome)) health('log', `${w.name}: a completion of ${e.id}, which was never invoked`)
          break
        }
        case 'crash':
          health('crash', `${w.name} incarnation ${w.incarnation}: ${e.error?.code} ${e.error?.msg}`)
          break
        case 'torn':
          torn++
          break
      }
      if (e.at !== undefined) {
        engine.time(e.at)
        if (e.at >= nextStep) {
          nextStep = e.at + STEP_US
          await pump()
        }
      }
    }
    for (const w of workers) if (w.incarnation !== undefined) engine.sessionEnded(`${w.name}.${w.incarnation}`, Infinity)
    engine.time(Infinity)
    for (let e = await feed.next(); e !== undefined; e = await feed.next()) onFollower(e)
    engine.feedEnded()
    for (let r = await final.next(); r !== undefined; r = await final.next()) engine.finalRecord(r)
    engine.finalEnded()
    const feedComplete = engine.end()

    const faults = {}
    if (logExists(join(logs, 'nemesis.log')))
      await readLog(join(logs, 'nemesis.log'), (e) => {
        if (e.t !== 'fault') return
        const f = (faults[e.f] ??= { injected: 0 })
        f.injected++
        if (e.busy === 1 || e.error !== undefined) f.busyOrFailed = (f.busyOrFailed ?? 0) + 1
      })
    const report = result(collector, engine, { feedComplete, interruptions: engine.feed.interruptions, faults })
    report.tornLines = torn
    peakHeap = Math.max(peakHeap, getHeapStatistics().used_heap_size)
    report.checker = {
      seconds: Math.round(performance.now() - started) / 1000,
      cpuSeconds: Math.round((({ user, system }) => (user + system) / 1000)(process.cpuUsage(cpu))) / 1000,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
      peakHeapBytes: peakHeap,
      heldOps: engine.heldPeak,
    }
    return report
  } finally {
    clearInterval(sampler)
  }
}
