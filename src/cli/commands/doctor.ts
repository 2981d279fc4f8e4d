import { dirname, resolve } from 'node:path'
import type { LoadedConfig } from '../config.js'
import { DOCTOR_CHECKS, DoctorSubject, type CheckStatus, type Finding } from '../doctor-checks.js'
import { FILES_DOCTOR_CHECKS } from '../doctor-files.js'
import { plural } from '../format.js'
import { positionals } from '../arguments.js'
import { CONFIG_OPTION, STORE_FILE_OPTION } from '../options.js'
import { CliError, EXIT, type Command, type CommandContext } from '../output.js'
import type { Style } from '../style.js'
import { describeTarget, resolveTarget } from '../target.js'

/** One row of `tandem doctor --json`. */
export interface DoctorResult extends Finding {
  title: string
  fixed: boolean
  fix?: string
}

export interface DoctorReport {
  store: string
  /** True when every check is ok (or was fixed). */
  ok: boolean
  checks: DoctorResult[]
}

const LABEL: Record<CheckStatus | 'fixed', { text: string; style: Style }> = {
  ok: { text: 'ok', style: 'green' },
  warn: { text: 'warn', style: 'yellow' },
  fail: { text: 'FAIL', style: 'red' },
  skip: { text: 'skip', style: 'dim' },
  fixed: { text: 'fixed', style: 'green' },
}

function needsAttention(r: DoctorResult): boolean {
  return (r.status === 'warn' || r.status === 'fail') && !r.fixed
}

/** Runs every check in order; a check that throws is reported as failed, never as a crash. */
export async function examine(file: string, fix: boolean, backupDir: string | undefined): Promise<DoctorResult[]> {
  const subject = new DoctorSubject(file, fix, backupDir === undefined ? {} : { backupDir })
  const results: DoctorResult[] = []
  try {
    for (const { title, check } of DOCTOR_CHECKS) {
      let finding: Finding
      try {
        finding = await check(subject)
      } catch (error) {
        finding = { status: 'fail', summary: `the check itself failed: ${error instanceof Error ? error.message : String(error)}` }
      }
      results.push({ title, ...finding, fixed: finding.fixed === true })
    }
  } finally {
    await subject.close().catch(() => undefined)
  }
  return results
}

/** The files store checks (doctor-files.ts), run and reported like the SQLite ones. */
async function examineFiles(dir: string, fix: boolean): Promise<DoctorResult[]> {
  const results: DoctorResult[] = []
  for (const { title, check } of FILES_DOCTOR_CHECKS) {
    let finding: Finding
    try {
      finding = await check({ dir, fix })
    } catch (error) {
      finding = { status: 'fail', summary: `the check itself failed: ${error instanceof Error ? error.message : String(error)}` }
    }
    results.push({ title, ...finding, fixed: finding.fixed === true })
  }
  return results
}

function printReport(ctx: CommandContext, report: DoctorReport, fix: boolean): void {
  const { paint } = ctx
  ctx.out(`${paint('Doctor', 'bold')}  ${report.store}\n`)
  const width = Math.max(...report.checks.map((c) => c.title.length))
  for (const r of report.checks) {
    const label = LABEL[r.fixed ? 'fixed' : r.status]
    ctx.out(`  ${paint(label.text.padEnd(5), label.style)}  ${r.title.padEnd(width)}  ${r.summary}`)
    const indent = ' '.repeat(width + 11)
    for (const line of r.details ?? []) ctx.out(`${indent}- ${line}`)
    if (r.fix !== undefined)
      ctx.out(`${indent}${paint(r.fixed ? 'fixed:' : fix ? 'fix failed:' : '--fix:', r.fixed ? 'green' : 'cyan')} ${r.fix}`)
    if (r.advice !== undefined && !r.fixed) ctx.out(`${indent}${paint('advice:', 'cyan')} ${r.advice}`)
  }
  const open = report.checks.filter(needsAttention)
  const fixed = report.checks.filter((c) => c.fixed).length
  const fixable = open.filter((c) => c.fix !== undefined).length
  ctx.out('')
  if (open.length === 0)
    ctx.out(paint(fixed > 0 ? `Fixed ${plural(fixed, 'problem')}; everything else is ok.` : 'No problems found.', 'green'))
  else {
    const hint =
      !fix && fixable > 0
        ? ` Run "tandem doctor --fix" to fix ${fixable === open.length ? (open.length === 1 ? 'it' : 'them') : `${fixable} of them`}.`
        : ''
    ctx.out(
      paint(
        `${plural(open.length, 'problem')} found${fixed > 0 ? ` (${fixed} fixed)` : ''}.${hint}`,
        open.some((c) => c.status === 'fail') ? 'red' : 'yellow',
      ),
    )
  }
}

/** --backup-dir (from the working directory), else the config's backup.dir (from the config file's directory, like its path). */
export function backupDirOf(option: string | boolean | undefined, config: LoadedConfig | undefined): string | undefined {
  if (typeof option === 'string' && option !== '') return resolve(option)
  const dir = config?.store.backup?.dir
  return typeof dir === 'string' && dir !== '' ? resolve(dirname(config!.file), dir) : undefined
}

export const doctor: Command = {
  name: 'doctor',
  summary:
    'Check a store file: integrity, -wal/-shm, WAL size, stale registrations, writes missing from the change log, consumers behind retention, orphaned temp/lock files and backup temps, permissions; --fix repairs what it safely can.',
  usage: 'tandem doctor [store] [--fix] [--backup-dir DIR] [--config PATH] [--json]',
  options: {
    fix: {
      type: 'boolean',
      description:
        'prune stale registrations, remove orphaned temp/lock files and backup temps, chmod store files to 0600 (never rewrites data)',
    },
    'backup-dir': {
      type: 'string',
      description: "the folder scheduled backups go to, checked for temp files of killed backups (default: the config's backup.dir)",
    },
    ...STORE_FILE_OPTION,
    ...CONFIG_OPTION,
  },
  examples: [
    'tandem doctor data/app.db',
    'tandem doctor --fix',
    'tandem doctor data/app.db --backup-dir backups',
    'tandem doctor --json | jq \'.checks[] | select(.status != "ok")\'',
  ],
  async run(ctx) {
    const [argument] = positionals(ctx, [], ['store'])
    const target = await resolveTarget(ctx, argument)
    if (target.kind === 'files') {
      const checks = await examineFiles(target.dir, ctx.values.fix === true)
      const report: DoctorReport = { store: target.dir, ok: !checks.some(needsAttention), checks }
      if (ctx.json) ctx.result(report)
      else printReport(ctx, report, ctx.values.fix === true)
      return report.ok ? EXIT.ok : EXIT.checkFailed
    }
    if (target.kind !== 'file') {
      throw new CliError(
        'UNSUPPORTED',
        `tandem doctor checks SQLite store files; ${describeTarget(target)} is a server.`,
        'Use "tandem status" for a PostgreSQL store.',
        EXIT.usage,
      )
    }
    const fix = ctx.values.fix === true
    const checks = await examine(target.file, fix, backupDirOf(ctx.values['backup-dir'], target.config))
    const report: DoctorReport = { store: target.file, ok: !checks.some(needsAttention), checks }
    if (ctx.json) ctx.result(report)
    else printReport(ctx, report, fix)
    return report.ok ? EXIT.ok : EXIT.checkFailed
  },
}
