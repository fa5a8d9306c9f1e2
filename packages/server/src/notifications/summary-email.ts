// The daily summary as an e-mail (phone-sized, escaped, with a plain-text part). Pure.
import {
  headerText,
  badge,
  button,
  escapeHtml,
  facts,
  footer,
  page,
  STATE_COLOURS,
  type EmailContent,
} from './email-content.js'
import type { DaySummary, SummaryJob } from './day-summary.js'

const when = (ms: number) => new Date(ms).toUTCString()

export function summaryEmail(s: DaySummary): EmailContent {
  const failing = s.jobs.filter((j) => j.lastRun !== undefined && isBad(j.lastRun.status)).length
  const subject = headerText(
    `[Strata] Daily summary: ${s.jobs.length} job${s.jobs.length === 1 ? '' : 's'}, ${failing} failing`,
  )
  const cards = s.jobs.map(jobCard).join('')
  const html = page(
    'Strata daily summary',
    `<h1 style="font-size:20px;margin:0 0 4px">Daily summary</h1>` +
      `<p style="margin:0 0 12px;color:#4b5563">${escapeHtml(when(s.from))} to ${escapeHtml(when(s.to))}</p>` +
      (s.jobs.length === 0 ? '<p>No job is defined.</p>' : cards) +
      footer(),
  )
  return { subject, html, text: summaryText(s) }
}

const isBad = (status: string) => status === 'failure' || status === 'interrupted'

function jobCard(j: SummaryJob): string {
  const colour = j.lastRun === undefined ? '#9ca3af' : (STATE_COLOURS[j.lastRun.status] ?? '#4b5563')
  const states = Object.entries(j.states)
    .map(([state, n]) => `${n} ${state}`)
    .join(', ')
  const failed =
    j.failedVms.length === 0
      ? ''
      : `<p style="margin:6px 0 0;color:${STATE_COLOURS.failure};word-break:break-word">Failed: ${j.failedVms
          .map((vm) => escapeHtml(vm.reason === undefined ? vm.name : `${vm.name} (${vm.reason})`))
          .join('; ')}</p>`
  return (
    `<div style="background:#ffffff;border-radius:8px;padding:12px 14px;margin:0 0 12px;border-left:5px solid ${colour}">` +
    `<div style="display:flex;flex-wrap:wrap;gap:6px;align-items:center;justify-content:space-between">` +
    `<strong style="word-break:break-word">${escapeHtml(j.jobName)}</strong>${j.lastRun === undefined ? '' : badge(j.lastRun.status)}</div>` +
    facts([
      ['Runs (24 h)', j.runs === 0 ? 'none' : `${j.runs}: ${states}`],
      ['Last run', j.lastRun === undefined ? undefined : when(j.lastRun.start)],
      ['Last success', j.lastSuccess === undefined ? 'never' : when(j.lastSuccess)],
    ]) +
    failed +
    (j.lastRun?.url === undefined ? '' : button(j.lastRun.url, 'Open the last run')) +
    '</div>'
  )
}

function summaryText(s: DaySummary): string {
  const lines = [`Strata daily summary, ${when(s.from)} to ${when(s.to)}`, '']
  for (const j of s.jobs) {
    const states = Object.entries(j.states).map(([state, n]) => `${n} ${state}`)
    lines.push(`${j.jobName}: ${j.runs === 0 ? 'no run' : `${j.runs} run(s): ${states.join(', ')}`}`)
    if (j.lastRun !== undefined) lines.push(`  last run: ${j.lastRun.status} at ${when(j.lastRun.start)}`)
    lines.push(`  last success: ${j.lastSuccess === undefined ? 'never' : when(j.lastSuccess)}`)
    for (const vm of j.failedVms)
      lines.push(`  failed: ${vm.name}${vm.reason === undefined ? '' : ` (${vm.reason})`} in run ${vm.runId}`)
    if (j.lastRun?.url !== undefined) lines.push(`  ${j.lastRun.url}`)
  }
  return `${lines.join('\n')}\n`
}
