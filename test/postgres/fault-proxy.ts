import { createServer, connect, type Server, type Socket } from 'node:net'
import { PG_URL } from '../helpers/backends.js'

/**
 * A TCP proxy in front of the test server, so one test can cut its own store's connections and
 * refuse new ones (the server "down" for that store alone) without touching the shared server
 * other tests use. `url` is PG_URL pointed at the proxy.
 */
export interface FaultProxy {
  readonly url: string
  /** Connections passing through now. */
  readonly connections: number
  /** Cuts every connection (as a server crash does); with `down`, new ones are refused until `up()`. */
  cut(options?: { down?: boolean }): void
  up(): void
  close(): Promise<void>
}

export async function startFaultProxy(): Promise<FaultProxy> {
  const upstream = new URL(PG_URL)
  const sockets = new Set<Socket>()
  let down = false
  const server: Server = createServer((client) => {
    if (down) return void client.destroy()
    const remote = connect(Number(upstream.port || 5432), upstream.hostname)
    for (const s of [client, remote]) {
      sockets.add(s)
      s.on('error', () => undefined)
      s.on('close', () => {
        sockets.delete(s)
        client.destroy()
        remote.destroy()
      })
    }
    client.pipe(remote)
    remote.pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = new URL(PG_URL)
  url.hostname = '127.0.0.1'
  url.port = String((server.address() as { port: number }).port)
  const cut = ({ down: refuse = false } = {}): void => {
    down = refuse
    for (const socket of [...sockets]) socket.destroy()
  }
  return {
    url: url.toString(),
    get connections() {
      return sockets.size / 2
    },
    cut,
    up: () => void (down = false),
    close: async () => {
      cut()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
