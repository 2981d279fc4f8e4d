// Health: doctor's checks (or those an open PostgreSQL store allows), the WAL, the last backup, and a backup button in write mode.
import { api } from './api.js'
import { errorBox, formatAge, formatBytes, formatTime, h, mount } from './dom.js'
import { screenToken } from './state.js'

export async function showHealth({ view, session }) {
  const current = screenToken()
  mount(view, h('h1', {}, 'Health'), h('p', { class: 'muted', role: 'status' }, 'Running the checks…'))
  const data = await api.health()
  if (!current()) return
  const s = data.storage
  const backupStatus = h('div', { role: 'status', 'aria-live': 'polite', id: 'backup-status' })
  const backupButton =
    session.mode === 'write' && data.backupDir !== null
      ? h(
          'button',
          {
            type: 'button',
            id: 'backup',
            class: 'primary',
            onclick: async (e) => {
              e.target.disabled = true
              mount(backupStatus, 'Backing up…')
              try {
                const result = await api.backup()
                mount(
                  backupStatus,
                  h('span', { class: 'good' }, `Backed up to ${result.path} (${formatBytes(result.bytes)}, ${result.durationMs} ms).`),
                )
              } catch (error) {
                mount(backupStatus, errorBox(error))
              } finally {
                e.target.disabled = false
              }
            },
          },
          'Back up now',
        )
      : null
  mount(
    view,
    h('h1', {}, 'Health'),
    h(
      'div',
      { class: 'scroll' },
      h(
        'table',
        { class: 'grid', id: 'checks' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['check', 'result', 'found'].map((t) => h('th', { scope: 'col' }, t)),
          ),
        ),
        h(
          'tbody',
          {},
          data.checks.map((c) =>
            h(
              'tr',
              { dataset: { status: c.status } },
              h('th', { scope: 'row' }, c.title),
              h('td', {}, h('span', { class: `status ${c.status}` }, c.status)),
              h(
                'td',
                {},
                c.summary,
                c.details
                  ? h(
                      'ul',
                      {},
                      c.details.map((d) => h('li', {}, d)),
                    )
                  : null,
                c.advice ? h('div', { class: 'hint' }, c.advice) : null,
              ),
            ),
          ),
        ),
      ),
    ),
    h('h2', {}, 'Storage'),
    h(
      'p',
      { id: 'storage' },
      s === null ? 'The engine reports no sizes.' : `${s.location}: ${formatBytes(s.bytes)}`,
      s?.walBytes === undefined
        ? ''
        : `; WAL ${formatBytes(s.walBytes)}${s.walLimitBytes === undefined ? '' : ` (checkpointed past ${formatBytes(s.walLimitBytes)})`}`,
      '.',
    ),
    h('h2', {}, 'Backups'),
    h(
      'p',
      { id: 'last-backup' },
      data.lastBackup === null
        ? `No backup found${data.backupDir === null ? ' (no backup folder known: --backup-dir or backup.dir in the config)' : ` in ${data.backupDir}`}.`
        : `Last backup: ${data.lastBackup.path}, ${formatBytes(data.lastBackup.bytes)}, ${formatTime(data.lastBackup.at)} (${formatAge(data.lastBackup.at)}).`,
    ),
    session.mode === 'write'
      ? h('div', { class: 'actions' }, backupButton)
      : h('p', { class: 'muted' }, 'Start the inspector with --write --role R to run a backup from here.'),
    backupStatus,
  )
}
