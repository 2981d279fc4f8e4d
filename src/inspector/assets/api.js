// The inspector's calls to its server: the server's JSON API and change feed (docs/http-api.md),
// and the inspector's own routes under /inspector/api. Every call carries the token.

const KEY = 'tandem-inspector-token'

/** Takes the token from the URL's fragment (#token=...) once, keeps it for this tab, and clears it from the address bar. */
export function takeToken() {
  const match = /^#token=([A-Za-z0-9_-]+)/.exec(location.hash)
  if (match) {
    sessionStorage.setItem(KEY, match[1])
    history.replaceState(null, '', `${location.pathname}#/collections`)
  }
  return sessionStorage.getItem(KEY)
}

/** An error answer of the API: code, message, hint and the facts it carries (expected, actual, issues...). */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `HTTP ${status}`)
    this.status = status
    Object.assign(this, body?.error ?? { code: 'HTTP_' + status })
  }
}

let token = null
export function setToken(value) {
  token = value
}

export async function call(method, path, body) {
  const headers = { authorization: `Bearer ${token}` }
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  const text = await res.text()
  const json = text === '' ? null : JSON.parse(text)
  if (!res.ok) throw new ApiError(res.status, json)
  return json
}

const enc = encodeURIComponent
export const api = {
  session: () => call('GET', '/inspector/api/session'),
  collections: () => call('GET', '/inspector/api/collections'),
  processes: () => call('GET', '/inspector/api/processes'),
  health: () => call('GET', '/inspector/api/health'),
  backup: () => call('POST', '/inspector/api/backup'),
  validate: (collection, id, data) => call('POST', `/inspector/api/collections/${enc(collection)}/validate`, { data, id }),
  find: (collection, options) => call('POST', `/v1/collections/${enc(collection)}/find`, options),
  count: (collection, where) => call('POST', `/v1/collections/${enc(collection)}/count`, where === undefined ? {} : { where }),
  get: (collection, id) => call('GET', `/v1/collections/${enc(collection)}/records/${enc(id)}`),
  replace: (collection, id, data, ifVersion) =>
    call('PUT', `/v1/collections/${enc(collection)}/records/${enc(id)}`, { data, ifVersion, mode: 'replace' }),
}

/**
 * Follows the change feed (GET /v1/changes, Server-Sent Events) with the token in a header, which
 * EventSource cannot send: reads the stream with fetch, and reconnects after a second with
 * Last-Event-ID, so no change is missed across a reconnect.
 */
export async function followChanges({ onChange, onState }) {
  let last = null
  for (;;) {
    try {
      const headers = { authorization: `Bearer ${token}`, accept: 'text/event-stream' }
      if (last !== null) headers['last-event-id'] = String(last)
      const res = await fetch('/v1/changes?since=now', { headers })
      if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null))
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
      let buffer = ''
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        buffer += value
        let end
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const event = { type: 'message', data: '' }
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event.type = line.slice(7)
            else if (line.startsWith('data: ')) event.data += line.slice(6)
            else if (line.startsWith('id: ')) event.id = line.slice(4)
          }
          if (event.type === 'ready') onState('live')
          else if (event.type === 'change') {
            const change = JSON.parse(event.data)
            last = change.seq
            onChange(change)
          } else if (event.type === 'error') onState('error', JSON.parse(event.data).error)
        }
      }
    } catch (error) {
      onState('error', error)
      if (error instanceof ApiError && error.status === 401) return
    }
    onState('reconnecting')
    await new Promise((resolve) => setTimeout(resolve, 1000))
  }
}
