import type { Backend, ReadTx, WriteTx } from '../backends/backend.js'
import { TandemError } from '../errors.js'
import {
  checkStillHolder,
  heartbeat,
  heartbeatEveryMs,
  register,
  roleLost,
  roleStillHeld,
  unregister,
  watchSilentHolder,
  type ProcessEntry,
  type SilentHolder,
} from '../registry/process-registry.js'
import type { CollectionSettings } from './config.js'
import { declareCollections } from './declarations.js'
import type { WriteJob } from './write-queue.js'

/** What a membership needs from its store. */
export interface MembershipHost {
  readonly role: string
  readonly singleton: boolean
  fingerprint(): string
  readonly collections: Iterable<CollectionSettings>
  readonly backend: Backend
  /** Runs `work` as one write of the store's queue (no ownership checks: registry rows are internal). */
  runWrite<T>(work: (tx: WriteTx) => Promise<T>): Promise<T>
  runRead<T>(work: (tx: ReadTx) => Promise<T>): Promise<T>
  /** Whether the store still writes (not closed, not refusing): the heartbeat stops otherwise. */
  live(): boolean
  /** This process lost its singleton role: the store refuses every later write with `error`. */
  lost(error: TandemError): void
}

/**
 * This process's membership of the store: its registration in the process registry (enforcing a
 * singleton role), its heartbeat, and — for a singleton holder — the fence that makes each write
 * transaction first check the role is still its own, so a holder that was paused past its stale
 * window and replaced learns it before it writes anything.
 */
export class Membership {
  readonly #host: MembershipHost
  #entry: ProcessEntry | undefined
  /** The registration when it holds a singleton role: each write transaction checks it is still there. */
  #holder: ProcessEntry | undefined
  #heartbeat: NodeJS.Timeout | undefined
  /** Per write transaction (tx object), its fence check: the writes of one batch share it (one read, never two at once on one connection). */
  readonly #fenceChecks = new WeakMap<object, Promise<void>>()
  /** Write transactions whose fence check passed: their later writes run at once (synchronously where the engine does). */
  readonly #fenced = new WeakSet<object>()

  constructor(host: MembershipHost) {
    this.#host = host
  }

  /**
   * Registers this process and starts its heartbeat. A singleton holder on another host that looks
   * silent is watched for a stale window first (see register in the registry).
   */
  async register(): Promise<void> {
    const host = this.#host
    let takeOver: SilentHolder | undefined
    for (;;) {
      const outcome = await host.runWrite(async (tx) => {
        const registration = await register(tx, host.role, host.singleton, host.fingerprint(), takeOver)
        if ('entry' in registration) await declareCollections(tx, host.collections, host.role, registration.entry.id)
        return registration
      })
      if ('entry' in outcome) {
        this.#entry = outcome.entry
        if (host.singleton) this.#holder = outcome.entry
        break
      }
      const seen = await watchSilentHolder((work) => host.runRead(work), outcome.silent)
      if (seen === 'moved') throw roleStillHeld(outcome.silent)
      takeOver = seen === 'silent' ? outcome.silent : undefined
    }
    this.#heartbeat = setInterval(() => this.#beat(), heartbeatEveryMs())
    this.#heartbeat.unref() // The registry must not keep a process alive.
  }

  /** Stops the heartbeat (the store closes, or refuses writes from now on). */
  stop(): void {
    clearInterval(this.#heartbeat)
  }

  /** The job that removes this process's registration at close, if it registered. */
  unregisterJob(): WriteJob<void> | undefined {
    const entry = this.#entry
    return entry === undefined ? undefined : { atomic: false, work: (tx) => unregister(tx, entry) }
  }

  /** `job`, made to first check that this process still holds its singleton role (unchanged for other roles). */
  fence<T>(job: WriteJob<T>): WriteJob<T> {
    const holder = this.#holder
    if (holder === undefined) return job
    const { work } = job
    return {
      // The check fails before the job's first write: an atomic job stays atomic.
      atomic: job.atomic,
      work: (tx) => {
        if (this.#fenced.has(tx)) return work(tx)
        let check = this.#fenceChecks.get(tx)
        if (check === undefined) {
          check = checkStillHolder(tx, holder).then(
            () => void this.#fenced.add(tx),
            (error: unknown) => {
              // Only a lost role is for good. A failed check (a lost connection, a busy timeout, an
              // I/O error) fails this transaction alone: the next write checks again.
              if (error instanceof TandemError && error.code === 'ROLE_LOST') this.#host.lost(error)
              throw error
            },
          )
          this.#fenceChecks.set(tx, check)
        }
        return check.then(() => work(tx))
      },
    }
  }

  /** One heartbeat: refreshes the registration; a singleton holder whose row is gone has lost its role. */
  #beat(): void {
    const entry = this.#entry
    const host = this.#host
    if (entry === undefined || !host.live()) return
    const stats = host.backend.busyStats ?? { retries: 0, longestWaitMs: 0 }
    host
      .runWrite((tx) => heartbeat(tx, entry, { busyRetries: stats.retries, longestWaitMs: stats.longestWaitMs }))
      .then(
        (outcome) => {
          if (outcome === 'lost') host.lost(roleLost(entry))
        },
        () => undefined,
      )
  }
}
