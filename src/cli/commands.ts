import { backup } from './commands/backup.js'
import { compact } from './commands/compact.js'
import { copyCommand } from './commands/copy.js'
import { del } from './commands/delete.js'
import { demo } from './commands/demo.js'
import { doctor } from './commands/doctor.js'
import { exportCommand } from './commands/export.js'
import { find } from './commands/find.js'
import { get } from './commands/get.js'
import { importCommand } from './commands/import.js'
import { inspect } from './commands/inspect.js'
import { migrate } from './commands/migrate.js'
import { patch } from './commands/patch.js'
import { put } from './commands/put.js'
import { restore } from './commands/restore.js'
import { serve } from './commands/serve.js'
import { status } from './commands/status.js'
import { token } from './commands/token.js'
import { watch } from './commands/watch.js'
import type { Command } from './output.js'

/** Every command, in the order `tandem --help` lists them. */
export const COMMANDS: readonly Command[] = [
  status,
  doctor,
  find,
  get,
  put,
  patch,
  del,
  watch,
  serve,
  inspect,
  token,
  migrate,
  exportCommand,
  importCommand,
  copyCommand,
  backup,
  restore,
  compact,
  demo,
]
