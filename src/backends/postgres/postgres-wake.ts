/**
 * Wake-ups for change readers (the twin of sqlite-wake.ts): LISTEN on one dedicated connection per backend (never a pooled one:
 * a pooled connection would be handed to writers and its LISTEN would die with it), plus a slow
 * poll of the log's head in case a notification is lost. The change log stays the source of truth:
 * a wake-up only says "read again from where you are", so a duplicate or spurious one costs a read,
 * and a lost one is caught by the poll.
 */

/** The part of a pg.Client the listener uses. */
export interface PostgresListenClient {
  connect(): Promise<unknown>
  query(text: string): Promise<unknown>
  end(): Promise<void>
  on(event: 'notification', listener: (message: { channel: string; payload?: string | undefined }) => void): unknown
  on(event: 'error' | 'end', listener: (error?: Error) => void): unknown
}

export interface CommitListenerOptions {
  /** A new, not yet connected client (application_name set, so pg_stat_activity can tell it apart). */
  createClient: () => PostgresListenClient
  /** The NOTIFY channel the store's writers signal. */
  channel: string
  /** The seq of the last committed change, read through the pool. */
  readHead: () => Promise<number>
  /** How often the head is polled while someone listens. */
  pollMs: number
  /** Called with each notification's payload, before the watchers are woken. */
  onPayload?: (payload: string | undefined) => void
  /** Called when notifications may have been missed: the connection was lost, or is (re)starting. */
  onGap?: () => void
}

/** Reconnect waits: 50 ms doubling to 2 s, jittered. */
const RECONNECT_MIN_MS = 50
const RECONNECT_MAX_MS = 2000

/**
 * One LISTEN connection shared by every watcher of a backend. Started by the first `subscribe`,
 * stopped by the last unsubscribe. When the connection is lost it reconnects with backoff and, once
 * listening again, calls every watcher: commits made while it was away are read from the log.
 */
export class CommitListener {
  readonly #options: CommitListenerOptions
  readonly #watchers = new Set<() => void>()
  #client: PostgresListenClient | undefined
  #running = false
  #failures = 0
  #reconnectTimer: NodeJS.Timeout | undefined
  #pollTimer: NodeJS.Timeout | undefined
  #lastHead = -1
  /** Times the listener connection came up (the first time included): for status and tests. */
  connections = 0

  constructor(options: CommitListenerOptions) {
    this.#options = options
  }

  /** Calls `onCommit` after commits of any process, until the returned function is called. */
  subscribe(onCommit: () => void): () => void {
    // A wrapper per call, so the same function subscribed twice is two watchers.
    const watcher = () => onCommit()
    this.#watchers.add(watcher)
    if (!this.#running) this.#start()
    return () => {
      if (!this.#watchers.delete(watcher)) return
      if (this.#watchers.size === 0) this.#stop()
    }
  }

  /** Stops listening for good (the backend closes). */
  close(): void {
    this.#watchers.clear()
    this.#stop()
  }

  #start(): void {
    this.#running = true
    this.#failures = 0
    this.#lastHead = -1
    void this.#connect()
    this.#schedulePoll()
  }

  #stop(): void {
    this.#running = false
    this.#options.onGap?.()
    clearTimeout(this.#reconnectTimer)
    clearTimeout(this.#pollTimer)
    this.#reconnectTimer = undefined
    this.#pollTimer = undefined
    const client = this.#client
    this.#client = undefined
    client?.end().catch(() => undefined)
  }

  #wake(): void {
    for (const watcher of [...this.#watchers]) watcher()
  }

  async #connect(): Promise<void> {
    const client = this.#options.createClient()
    this.#client = client
    let lost = false
    const onLost = () => {
      if (lost) return
      lost = true
      this.#options.onGap?.()
      if (this.#client === client) this.#client = undefined
      client.end().catch(() => undefined)
      this.#scheduleReconnect()
      // Notifications may be lost from now on: readers read the log from their position at once
      // (a reader that cannot, the server being away, reports FEED_INTERRUPTED and retries).
      if (this.#running && this.connections > 0) this.#wake()
    }
    // An 'error' without a listener would crash the process; a lost listener is routine here.
    client.on('error', onLost)
    client.on('end', onLost)
    client.on('notification', (message) => {
      if (message.channel !== this.#options.channel || this.#client !== client) return
      this.#options.onPayload?.(message.payload)
      this.#wake()
    })
    try {
      await client.connect()
      // The channel name is built from the validated schema name only.
      await client.query(`LISTEN "${this.#options.channel}"`)
    } catch {
      onLost()
      return
    }
    if (this.#client !== client || !this.#running) {
      // Stopped (or replaced) while connecting.
      if (this.#client === client) this.#client = undefined
      client.end().catch(() => undefined)
      return
    }
    this.#failures = 0
    this.connections++
    // Commits made before LISTEN took effect (at start, or while the connection was down) sent
    // notifications nobody heard: have every reader look at the log now.
    this.#wake()
  }

  #scheduleReconnect(): void {
    if (!this.#running || this.#reconnectTimer !== undefined) return
    const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** this.#failures++)
    this.#reconnectTimer = setTimeout(
      () => {
        this.#reconnectTimer = undefined
        if (this.#running && this.#client === undefined) void this.#connect()
      },
      delay * (0.5 + Math.random() / 2),
    )
  }

  #schedulePoll(): void {
    if (!this.#running) return
    // Not unref'd: like the SQLite watcher, a live change reader keeps the process running.
    this.#pollTimer = setTimeout(() => void this.#poll(), this.#options.pollMs)
  }

  async #poll(): Promise<void> {
    try {
      const head = await this.#options.readHead()
      if (head !== this.#lastHead) {
        // The first look wakes everyone too (spurious wake-ups are allowed): should the listener
        // never come up, a commit made before this look would otherwise wait for the next one.
        this.#lastHead = head
        if (this.#running) this.#wake()
      }
    } catch {
      // The server is away: the next poll (or the reconnect) tries again. Readers are woken to
      // find out for themselves (and report FEED_INTERRUPTED) once per outage.
      if (this.#lastHead !== -2 && this.#running) this.#wake()
      this.#lastHead = -2
    } finally {
      this.#schedulePoll()
    }
  }
}
