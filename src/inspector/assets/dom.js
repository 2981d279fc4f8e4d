// Small DOM helpers: h() builds elements, the format* functions turn values into short text.

/**
 * h('a', { href: '#/x', class: 'b', onclick: fn }, 'text', child, [more]) → an element.
 * Attributes starting with "on" are listeners; false, null and undefined attributes and children are left out.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag)
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === false || value === null || value === undefined) continue
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value)
    else if (key === 'class') el.className = value
    else if (key === 'dataset') Object.assign(el.dataset, value)
    else if (key === 'value') el.value = value
    else el.setAttribute(key, value === true ? '' : String(value))
  }
  append(el, children)
  return el
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue
    if (Array.isArray(child)) append(el, child)
    else el.append(child instanceof Node ? child : String(child))
  }
}

/** Replaces the children of `el`. */
export function mount(el, ...children) {
  el.replaceChildren()
  append(el, children)
  return el
}

export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return '–'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let n = bytes
  let i = 0
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024
    i++
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`
}

export function formatAge(iso) {
  const ms = Date.now() - Date.parse(iso)
  if (!Number.isFinite(ms)) return '–'
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 60) return `${s} s ago`
  if (s < 3600) return `${Math.round(s / 60)} min ago`
  if (s < 86400) return `${Math.round(s / 3600)} h ago`
  return `${Math.round(s / 86400)} d ago`
}

export function formatTime(iso) {
  const d = new Date(iso)
  return Number.isNaN(d.getTime()) ? String(iso) : d.toISOString().replace('T', ' ').replace('Z', ' UTC')
}

/** A time to the second, for table cells (the record view shows milliseconds). */
export function formatShortTime(iso) {
  return formatTime(iso).slice(0, 19)
}

export function formatMs(ms) {
  if (ms === null || ms === undefined) return '–'
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000} d`
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`
  if (ms % 60_000 === 0) return `${ms / 60_000} min`
  return `${ms} ms`
}

/** A JSON value in one short line, for table cells. */
export function preview(value, max = 60) {
  const text = typeof value === 'string' ? value : JSON.stringify(value)
  if (text === undefined) return ''
  return text.length > max ? `${text.slice(0, max - 1)}…` : text
}

/** An error box: the code, the message and the hint of an API error. */
export function errorBox(error) {
  return h(
    'div',
    { class: 'error', role: 'alert' },
    h('strong', {}, error.code ?? 'ERROR'),
    ' ',
    error.message ?? String(error),
    error.hint ? h('div', { class: 'hint' }, error.hint) : null,
  )
}
