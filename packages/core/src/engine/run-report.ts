// A run as plain text, to paste in a ticket or a mail: what ran (job, schedule, pools, repositories),
// how it ended and why, then its task tree with each task's facts, errors and warnings. The CLI
// (`strata backup logs RUNID --text`) and the server (`GET /api/runs/:id/report`) print this same text.
import type { TaskNode } from './task-view.js'

/** '4.0 MiB'-style sizes. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  const m = Math.floor(ms / 60_000)
  return m < 60 ? `${m} min ${Math.round((ms % 60_000) / 1000)} s` : `${Math.floor(m / 60)} h ${m % 60} min`
}

/** A task's name with what it is about: 'VM web-01', 'transfer disk 0', 'retention local'. */
export function taskLabel(node: TaskNode): string {
  const d = node.data
  const about =
    node.name === 'VM'
      ? d.name
      : node.name === 'transfer'
        ? d.disk === undefined
          ? undefined
          : `disk ${String(d.disk)}`
        : node.name === 'connect pool'
          ? (d.name ?? d.pool)
          : node.name === 'restore'
            ? (d.vmName ?? d.point)
            : (d.target ?? d.repository ?? d.pool ?? (node.name === 'backup run' ? d.jobName : undefined))
  return about === undefined ? node.name : `${node.name} ${String(about)}`
}

/** Sizes and speeds worth a human's eye, from a task's facts and progress. */
export function taskFacts(node: TaskNode): string {
  const d = node.data
  const parts: string[] = []
  if (typeof d.full === 'boolean') parts.push(d.full ? 'full' : 'delta')
  if (typeof d.bytesRead === 'number') parts.push(`read ${formatBytes(d.bytesRead)}`)
  if (typeof d.bytesStored === 'number') parts.push(`stored ${formatBytes(d.bytesStored)}`)
  if (typeof d.size === 'number') parts.push(`size ${formatBytes(d.size)}`)
  if (Array.isArray(d.removed)) parts.push(`kept ${String(d.kept)}, removed ${d.removed.length}`)
  if (typeof d.copiedChunks === 'number') parts.push(mirrorFacts(d))
  if (node.progress !== undefined && node.speed !== undefined)
    parts.push(`${formatBytes(node.progress.done)} at ${formatBytes(node.speed)}/s`)
  // Restores: the rate above counts the whole disk; what was written and what was a hole, apart.
  if (typeof d.zeroBytes === 'number' && typeof d.dataBytes === 'number')
    parts.push(`${formatBytes(d.dataBytes)} of data, ${formatBytes(d.zeroBytes)} of zeros skipped`)
  // Differential restores: how much of the disk was checked (and how), how much was written back.
  if (typeof d.comparedBytes === 'number' && typeof d.rewrittenBytes === 'number')
    parts.push(
      `compared ${formatBytes(d.comparedBytes)} (${String(d.path)}), rewrote ${formatBytes(d.rewrittenBytes)}`,
    )
  if (Array.isArray(d.points) && d.points.length > 0)
    parts.push(`point ${(d.points as { pointId?: unknown }[]).map((p) => String(p.pointId)).join(' ')}`)
  return parts.length === 0 ? '' : `, ${parts.join(', ')}`
}

const when = (ms: number): string => `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`

export function formatRunReport(root: TaskNode): string {
  const d = root.data
  const kind = root.name === 'restore' ? 'restore' : root.name === 'mirror run' ? 'mirror run' : 'backup run'
  const lines = [`Strata ${kind} ${String(d.runId ?? '')}`.trimEnd()]
  const field = (name: string, value: unknown): void => {
    if (value !== undefined && value !== '' && !(Array.isArray(value) && value.length === 0))
      lines.push(`${`${name}:`.padEnd(14)}${Array.isArray(value) ? value.join(', ') : String(value)}`)
  }
  if (kind !== 'restore') {
    field('Job', d.jobName === d.jobId ? d.jobId : `${String(d.jobName)} (${String(d.jobId)})`)
    field('Schedule', d.scheduleId)
  }
  if (kind === 'mirror run') {
    field('From', d.repositories)
    field('To', d.mirrorTo)
  } else if (kind === 'backup run') {
    field('Pools', d.pools)
    field('Repositories', d.repositories)
  } else {
    field('VM', d.vmName)
    field('Restore point', d.point)
    field('Repository', d.repository)
    field('Pool', d.pool)
  }
  const error = root.error === undefined ? '' : ` (${root.error.code}: ${root.error.message})`
  field('Status', `${root.status}${error}`)
  field('Started', when(root.start))
  if (root.end !== undefined)
    field('Ended', `${when(root.end)}, after ${formatDuration(root.end - root.start)}`)
  lines.push('')
  const visit = (node: TaskNode, depth: number): void => {
    const indent = '  '.repeat(depth)
    const took = node.durationMs === undefined ? '' : ` in ${formatDuration(node.durationMs)}`
    lines.push(`${indent}${taskLabel(node)}: ${node.status}${took}${taskFacts(node)}`)
    if (node.error !== undefined && depth > 0)
      lines.push(`${indent}  error: ${node.error.code}: ${node.error.message}`)
    for (const w of node.warnings) lines.push(`${indent}  warning: ${w.message}`)
    for (const child of node.children) visit(child, depth + 1)
  }
  visit(root, 0)
  return `${lines.join('\n')}\n`
}

/** What a mirror copied into one target (mirror-run.ts sets these on its task). */
function mirrorFacts(d: Record<string, unknown>): string {
  const n = (key: string): string => String(d[key] ?? 0)
  const bytes = typeof d.copiedBytes === 'number' ? ` (${formatBytes(d.copiedBytes)})` : ''
  const points =
    d.copiedPoints === undefined
      ? ''
      : `${n('copiedPoints')} points copied, ${n('alreadyThere')} already there, ${n('removedPoints')} removed, `
  return `${points}${n('copiedChunks')} chunks copied${bytes}, ${n('skippedChunks')} skipped`
}
