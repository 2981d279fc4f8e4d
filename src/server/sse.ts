import type { FastifyReply, FastifyRequest } from 'fastify'
import type { ServerResponse } from 'node:http'
import type { ChangeStream } from '../changes/change-stream.js'
import { errorAnswer } from './http-errors.js'

/** A comment line this often keeps proxies and clients from closing an idle stream. */
export const KEEP_ALIVE_MS = 15_000

/**
 * The open Server-Sent Events streams of one server: one keep-alive timer for all of them (not one
 * per connection: thousands may be idle), and a way to end them all when the server closes.
 */
export class SseHub {
  readonly #open = new Set<{ res: ServerResponse; stream: ChangeStream }>()
  readonly #timer: NodeJS.Timeout

  constructor(keepAliveMs = KEEP_ALIVE_MS) {
    this.#timer = setInterval(() => {
      for (const { res } of this.#open) if (res.writableLength === 0) res.write(': keep-alive\n\n')
    }, keepAliveMs)
    this.#timer.unref()
  }

  /** How many streams are open. */
  get size(): number {
    return this.#open.size
  }

  /**
   * Takes the response over from Fastify and sends `stream` as events: `ready` with the position
   * it continues after, then one `change` per change (id = seq), until the client goes away, the
   * stream ends, or it fails (an `error` event with the error body, then the end).
   */
  async pipe(request: FastifyRequest, reply: FastifyReply, stream: ChangeStream, position: number): Promise<void> {
    reply.hijack()
    const res = reply.raw
    // A stream is idle for long stretches: no socket timeout, and no Nagle delay on each event.
    request.raw.socket.setTimeout(0)
    request.raw.socket.setNoDelay(true)
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    })
    const entry = { res, stream }
    this.#open.add(entry)
    const gone = () => stream.close()
    res.on('close', gone)
    try {
      res.write(`event: ready\ndata: ${JSON.stringify({ position })}\n\n`)
      for await (const change of stream) {
        // One write per event; when the client reads slower than changes come, wait for it.
        if (!res.write(`id: ${change.seq}\nevent: change\ndata: ${JSON.stringify(change)}\n\n`))
          await new Promise<void>((resolve) => {
            res.once('drain', resolve)
            res.once('close', resolve)
          })
        if (res.destroyed) break
      }
    } catch (error) {
      if (!res.destroyed) res.write(`event: error\ndata: ${JSON.stringify(errorAnswer(error).body)}\n\n`)
    } finally {
      this.#open.delete(entry)
      res.off('close', gone)
      stream.close()
      res.end()
    }
  }

  /** Ends every stream (server shutdown): each client sees its stream end and may reconnect with Last-Event-ID. */
  closeAll(): void {
    clearInterval(this.#timer)
    for (const { stream } of this.#open) stream.close()
  }
}
