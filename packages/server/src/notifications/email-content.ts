// The report of a run as an e-mail readable on a phone: one column at most 600 px wide, the state in
// colour, each VM as a block (no wide table), errors with their reason first, and a link to the run.
// Every text that comes from users or pools (job and VM names, error messages) is escaped; the plain
// text part is the engine's run report (the text `GET /api/runs/:id/report` answers). Pure.
import { formatBytes, formatDuration } from '@strata/core/engine'
import { isFailure, type ReportVm, type RunReportSummary } from './run-summary.js'

export interface EmailContent {
  readonly subject: string
  readonly html: string
  readonly text: string
}

/** Colours of states (the UI's: green success, red failure, orange running or interrupted, grey skipped). */
export const STATE_COLOURS: Readonly<Record<string, string>> = {
  success: '#15803d',
  failure: '#b91c1c',
  interrupted: '#c2410c',
  pending: '#c2410c',
  skipped: '#4b5563',
}

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;')
}

/** One line for a header: no control characters (a name cannot add headers), bounded. */
export function headerText(text: string, max = 200): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim()
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean
}

export function runEmail(summary: RunReportSummary, textReport: string): EmailContent {
  const failed = summary.vms.filter((vm) => isFailure(vm.status)).length
  const count =
    summary.vms.length === 0
      ? ''
      : failed > 0
        ? ` (${failed} of ${summary.vms.length} VMs failed)`
        : ` (${summary.vms.length} VM${summary.vms.length === 1 ? '' : 's'})`
  const subject = headerText(`[Strata] ${summary.jobName}: ${summary.status}${count}`)
  const link = summary.url === undefined ? '' : `Open the run in Strata: ${summary.url}\n\n`
  return { subject, html: runHtml(summary), text: `${link}${textReport}` }
}

export function badge(status: string): string {
  const colour = STATE_COLOURS[status] ?? '#4b5563'
  return `<span style="display:inline-block;padding:2px 10px;border-radius:12px;background:${colour};color:#ffffff;font-weight:700;font-size:13px;text-transform:uppercase">${escapeHtml(status)}</span>`
}

export function page(title: string, body: string): string {
  return [
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)}</title></head>`,
    '<body style="margin:0;padding:0;background:#f3f4f6;color:#111827;font-family:-apple-system,\'Segoe UI\',Roboto,Helvetica,Arial,sans-serif;font-size:15px;line-height:1.45">',
    `<div style="max-width:600px;margin:0 auto;padding:16px">${body}</div></body></html>`,
  ].join('')
}

const card = (inner: string, accent?: string) =>
  `<div style="background:#ffffff;border-radius:8px;padding:12px 14px;margin:0 0 12px;${accent === undefined ? '' : `border-left:5px solid ${accent};`}">${inner}</div>`

export function button(url: string, label: string): string {
  return `<p style="margin:16px 0"><a href="${escapeHtml(url)}" style="display:inline-block;background:#1d4ed8;color:#ffffff;text-decoration:none;padding:10px 16px;border-radius:6px;font-weight:700">${escapeHtml(label)}</a></p>`
}

function runHtml(s: RunReportSummary): string {
  const colour = STATE_COLOURS[s.status] ?? '#4b5563'
  const head = card(
    `<div style="font-size:13px;color:#4b5563">Strata ${escapeHtml(s.kind === 'backup' ? 'backup' : s.kind)} report</div>` +
      `<h1 style="font-size:20px;margin:4px 0 8px;word-break:break-word">${escapeHtml(s.jobName)}</h1>` +
      `<div>${badge(s.status)}</div>` +
      facts([
        ['Started', new Date(s.start).toUTCString()],
        ['Duration', s.durationMs === undefined ? undefined : formatDuration(s.durationMs)],
        ['Read', formatBytes(s.totals.bytesRead)],
        ['Stored (new)', formatBytes(s.totals.bytesStored)],
        ['Disks', s.totals.size === 0 ? undefined : formatBytes(s.totals.size)],
        ['Dedup', dedup(s.totals.bytesRead, s.totals.bytesStored)],
        ['Warnings', s.warnings === 0 ? undefined : String(s.warnings)],
        ['Pools', s.pools.join(', ') || undefined],
        ['Repositories', s.repositories.join(', ') || undefined],
      ]),
    colour,
  )
  const errors = [
    ...(s.error === undefined ? [] : [['Run', s.error] as const]),
    ...s.vms.filter((vm) => vm.error !== undefined).map((vm) => [`VM ${vm.name}`, vm.error!] as const),
  ]
  const errorCard =
    errors.length === 0
      ? ''
      : card(
          `<h2 style="font-size:16px;margin:0 0 6px;color:${STATE_COLOURS.failure}">Errors</h2>` +
            errors
              .map(
                ([what, e]) =>
                  `<p style="margin:0 0 8px;word-break:break-word"><strong>${escapeHtml(what)}</strong>: <code style="font-size:13px">${escapeHtml(e.code)}</code> ${escapeHtml(e.message)}</p>`,
              )
              .join(''),
          STATE_COLOURS.failure,
        )
  const vms =
    s.vms.length === 0
      ? ''
      : `<h2 style="font-size:16px;margin:16px 0 8px">VMs</h2>` + s.vms.map(vmCard).join('')
  const link = s.url === undefined ? '' : button(s.url, 'Open the run in Strata')
  return page(`${s.jobName}: ${s.status}`, head + errorCard + vms + link + footer(s.runId))
}

function vmCard(vm: ReportVm): string {
  return card(
    `<div style="display:flex;flex-wrap:wrap;gap:6px;align-items:center;justify-content:space-between">` +
      `<strong style="word-break:break-word">${escapeHtml(vm.name)}</strong>${badge(vm.status)}</div>` +
      facts([
        ['Duration', vm.durationMs === undefined ? undefined : formatDuration(vm.durationMs)],
        ['Kind', vm.full === undefined ? undefined : vm.full ? 'full' : 'delta'],
        ['Read', vm.bytesRead === undefined ? undefined : formatBytes(vm.bytesRead)],
        ['Stored (new)', vm.bytesStored === undefined ? undefined : formatBytes(vm.bytesStored)],
        ['Disks', vm.size === undefined ? undefined : formatBytes(vm.size)],
        ['Dedup', dedup(vm.bytesRead ?? 0, vm.bytesStored ?? 0)],
        ['Warnings', vm.warnings === 0 ? undefined : String(vm.warnings)],
      ]) +
      (vm.error === undefined
        ? ''
        : `<p style="margin:6px 0 0;color:${STATE_COLOURS.failure};word-break:break-word">${escapeHtml(vm.error.code)}: ${escapeHtml(vm.error.message)}</p>`),
    STATE_COLOURS[vm.status],
  )
}

/** Label and value lines; a value left undefined is not shown. */
export function facts(rows: readonly (readonly [string, string | undefined])[]): string {
  const shown = rows.filter((r): r is readonly [string, string] => r[1] !== undefined)
  if (shown.length === 0) return ''
  return (
    '<table role="presentation" style="border-collapse:collapse;margin-top:8px;font-size:14px">' +
    shown
      .map(
        ([label, value]) =>
          `<tr><td style="padding:1px 12px 1px 0;color:#4b5563;vertical-align:top;white-space:nowrap">${escapeHtml(label)}</td><td style="padding:1px 0;word-break:break-word">${escapeHtml(value)}</td></tr>`,
      )
      .join('') +
    '</table>'
  )
}

/** What deduplication and compression saved: read bytes against the new bytes stored. */
export function dedup(read: number, stored: number): string | undefined {
  if (read <= 0) return undefined
  const saved = Math.max(0, 1 - stored / read)
  return `${(saved * 100).toFixed(saved > 0.999 ? 2 : 1)}% not stored again`
}

export function footer(runId?: string): string {
  return `<p style="font-size:12px;color:#6b7280;margin:16px 0 0">${runId === undefined ? '' : `Run ${escapeHtml(runId)}. `}Sent by Strata; the report policy of each job is in its editor, the server's in Settings → Notifications.</p>`
}
