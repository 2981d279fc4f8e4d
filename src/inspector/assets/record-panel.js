// One record: version, times, who wrote it, its JSON; in write mode an editor that validates
// against the collection's schema and saves with ifVersion, showing a conflict side by side.
import { api } from './api.js'
import { errorBox, formatTime, h, mount } from './dom.js'

/** The JSON of `data` as lines, one per top-level key, marking the keys whose value differs in `other`. */
function jsonWithDiff(data, other) {
  const keys = Object.keys(data)
  const lines = keys.map((key, i) => {
    const differs = other === undefined || JSON.stringify(data[key]) !== JSON.stringify(other[key])
    const text = `  ${JSON.stringify(key)}: ${JSON.stringify(data[key], null, 2).replace(/\n/g, '\n  ')}${i < keys.length - 1 ? ',' : ''}`
    return h('span', { class: differs ? 'line diff' : 'line' }, text)
  })
  if (other !== undefined)
    for (const key of Object.keys(other))
      if (!(key in data)) lines.push(h('span', { class: 'line diff gone' }, `  (no ${JSON.stringify(key)})`))
  return h('pre', { class: 'json' }, h('span', { class: 'line' }, '{'), lines, h('span', { class: 'line' }, '}'))
}

function meta(record) {
  return h(
    'dl',
    { class: 'meta' },
    h('dt', {}, 'version'),
    h('dd', { class: 'version' }, String(record.version)),
    h('dt', {}, 'created'),
    h('dd', {}, formatTime(record.createdAt)),
    h('dt', {}, 'updated'),
    h('dd', {}, formatTime(record.updatedAt)),
    h('dt', {}, 'written by'),
    h('dd', {}, record.role ?? '–'),
  )
}

/**
 * The record panel of `collection`/`id` inside `el`. Returns { changed(change) } for the page to
 * call when the feed reports a write of this record: it reloads while viewing, and only warns
 * while editing (the save then meets the conflict, which is shown rather than overwritten).
 */
export function recordPanel(el, { collection, id, session, closeHref }) {
  let record = null
  let editing = null // { base: record, text }
  let notice = null

  const close = h('a', { href: closeHref, class: 'close', 'aria-label': 'Close the record' }, '✕')
  const heading = () => h('div', { class: 'panel-head' }, h('h2', {}, id), close)

  async function load() {
    try {
      record = await api.get(collection, id)
    } catch (error) {
      mount(el, heading(), errorBox(error))
      return
    }
    if (editing === null) render()
  }

  function render() {
    if (editing !== null) return renderEditor()
    const editButton =
      session.mode === 'write' ? h('button', { type: 'button', id: 'edit', onclick: () => startEdit(record) }, 'Edit') : null
    mount(
      el,
      heading(),
      meta(record),
      h('pre', { class: 'json', id: 'record-json' }, JSON.stringify(record.data, null, 2)),
      h('div', { class: 'actions' }, editButton),
    )
  }

  function startEdit(base, text = JSON.stringify(base.data, null, 2)) {
    editing = { base, text }
    notice = null
    renderEditor()
    el.querySelector('textarea')?.focus()
  }

  let validateTimer = null
  function renderEditor() {
    const status = h('div', { id: 'validation', class: 'validation', role: 'status', 'aria-live': 'polite' })
    const editor = h('textarea', {
      id: 'editor',
      spellcheck: 'false',
      'aria-label': `JSON of ${id}`,
      rows: 16,
      value: editing.text,
      oninput: (e) => {
        editing.text = e.target.value
        clearTimeout(validateTimer)
        validateTimer = setTimeout(() => void check(status), 300)
      },
    })
    mount(
      el,
      heading(),
      h(
        'p',
        { class: 'muted' },
        `Editing version ${editing.base.version} as role "${session.role}". Saving replaces the data only if the record is still at version ${editing.base.version}.`,
      ),
      notice,
      editor,
      status,
      h(
        'div',
        { class: 'actions' },
        h('button', { type: 'button', id: 'save', class: 'primary', onclick: () => void save(status) }, 'Save'),
        h('button', { type: 'button', id: 'cancel', onclick: cancel }, 'Cancel'),
      ),
    )
    void check(status)
  }

  function cancel() {
    editing = null
    notice = null
    void load()
  }

  /** Parses the text and has the server run the collection's schema on it (nothing is written). */
  async function check(status) {
    let data
    try {
      data = JSON.parse(editing.text)
    } catch (error) {
      mount(status, h('span', { class: 'bad' }, `Not JSON: ${error.message}`))
      status.dataset.state = 'invalid'
      return undefined
    }
    try {
      await api.validate(collection, id, data)
      mount(status, h('span', { class: 'good' }, '✓ valid for the schema'))
      status.dataset.state = 'valid'
      return data
    } catch (error) {
      const issues = Array.isArray(error.issues) ? error.issues : []
      mount(
        status,
        h('span', { class: 'bad' }, `${error.code}: ${error.message}`),
        issues.length > 0
          ? h(
              'ul',
              {},
              issues.map((i) => h('li', {}, `${i.path?.join('.') || '(record)'}: ${i.message}`)),
            )
          : null,
      )
      status.dataset.state = 'invalid'
      return undefined
    }
  }

  async function save(status) {
    const data = await check(status)
    if (data === undefined) return
    try {
      record = await api.replace(collection, id, data, editing.base.version)
      editing = null
      notice = null
      render()
      el.querySelector('#record-json')?.classList.add('flash')
    } catch (error) {
      if (error.code === 'VERSION_CONFLICT' || error.code === 'NOT_FOUND') return showConflict(error, data)
      mount(status, errorBox(error))
    }
  }

  /** Another process wrote the record since the edit began: both sides, differing keys marked; nothing was written. */
  async function showConflict(error, mine) {
    let theirs = null
    try {
      theirs = await api.get(collection, id)
    } catch {
      // Deleted meanwhile: only the edit is left to show.
    }
    const base = editing.base
    mount(
      el,
      heading(),
      h(
        'div',
        { class: 'conflict-banner', role: 'alert', id: 'conflict' },
        h('strong', {}, 'Not saved: the record changed while you were editing. '),
        error.message,
      ),
      h(
        'div',
        { class: 'conflict' },
        h('section', { class: 'side mine' }, h('h3', {}, `Your edit (based on version ${base.version})`), jsonWithDiff(mine, theirs?.data)),
        h(
          'section',
          { class: 'side theirs' },
          h(
            'h3',
            {},
            theirs === null
              ? 'In the store now: deleted'
              : `In the store now: version ${theirs.version}, by role ${theirs.role}, ${formatTime(theirs.updatedAt)}`,
          ),
          theirs === null ? h('p', {}, 'The record was deleted.') : jsonWithDiff(theirs.data, mine),
        ),
      ),
      h(
        'div',
        { class: 'actions' },
        theirs === null
          ? null
          : h(
              'button',
              { type: 'button', id: 'rebase', onclick: () => startEdit(theirs, JSON.stringify(mine, null, 2)) },
              `Edit again on top of version ${theirs.version}`,
            ),
        h('button', { type: 'button', id: 'discard', onclick: cancel }, 'Discard my edit'),
      ),
    )
  }

  void load()
  return {
    get editing() {
      return editing !== null
    },
    changed(change) {
      if (editing === null) return void load()
      notice = h(
        'div',
        { class: 'notice', role: 'status' },
        `Another process wrote this record (version ${change.version}, role ${change.role}) after you started editing: saving will show both versions.`,
      )
      const old = el.querySelector('.notice')
      if (old) old.replaceWith(notice)
      else el.querySelector('textarea')?.before(notice)
    },
  }
}
