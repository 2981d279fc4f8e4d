// The inspector's page: reads the token, follows the change feed for the whole session, and shows
// one screen at a time (#/collections, #/records/<name>[/<id>], #/live, #/processes, #/health).
import { api, followChanges, setToken, takeToken } from './api.js'
import { errorBox, h, mount } from './dom.js'
import { showCollections } from './view-collections.js'
import { showHealth } from './view-health.js'
import { showLive } from './view-live.js'
import { showProcesses } from './view-processes.js'
import { showRecords } from './view-records.js'
import { feed, leaveScreen } from './state.js'

const view = document.getElementById('view')
let session = null

function showFeedState(state) {
  feed.state = state
  const el = document.getElementById('feed')
  el.textContent = state === 'live' ? '● live' : state === 'error' || state === 'reconnecting' ? '○ reconnecting' : '○ connecting'
  el.className = `badge ${state === 'live' ? 'ok' : 'warn'}`
}

function route() {
  leaveScreen()
  const [screen = 'collections', ...rest] = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent)
  for (const link of document.querySelectorAll('nav a'))
    if (link.dataset.screen === screen) link.setAttribute('aria-current', 'page')
    else link.removeAttribute('aria-current')
  const context = { view, session, feed }
  const screens = {
    collections: () => showCollections(context),
    records: () => showRecords(context, rest[0], rest[1]),
    live: () => showLive(context),
    processes: () => showProcesses(context),
    health: () => showHealth(context),
  }
  const show = screens[screen] ?? screens.collections
  show().catch((error) => mount(view, errorBox(error)))
}

async function start() {
  const token = takeToken()
  if (!token) {
    mount(
      view,
      h('h1', {}, 'No token'),
      h(
        'p',
        {},
        'Open the URL that "tandem inspect" printed: it carries the token this page needs. Each start of the inspector makes a new one.',
      ),
    )
    return
  }
  setToken(token)
  try {
    session = await api.session()
  } catch (error) {
    mount(
      view,
      h('h1', {}, 'Cannot open the inspector'),
      errorBox(error),
      h('p', {}, 'Restart "tandem inspect" and open the URL it prints.'),
    )
    return
  }
  document.getElementById('store').textContent = `${session.store} (${session.kind})`
  const mode = document.getElementById('mode')
  mode.textContent = session.mode === 'write' ? `write mode: role ${session.role}` : 'read-only'
  mode.className = `badge ${session.mode === 'write' ? 'write' : ''}`
  showFeedState('connecting')
  void followChanges({ onChange: (change) => feed.push(change), onState: showFeedState })
  window.addEventListener('hashchange', route)
  route()
}

void start()
