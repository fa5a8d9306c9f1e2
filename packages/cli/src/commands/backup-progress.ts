// Live rendering of a task tree on stderr: on a terminal, one progress bar per running transfer redrawn
// in place (percent, speed, ETA); otherwise plain lines as tasks start and end, for logs and CI.
import { TaskView, walkTasks, type TaskEvent, type TaskNode } from '@strata/core/engine'
import { formatBytes } from './repo-common.js'

export interface ProgressRenderer {
  readonly onEvent: (event: TaskEvent) => void
  readonly view: TaskView
  stop(): void
}

/** `quiet`: --json output, where stderr still shows plain lines but never escape codes. */
export function progressRenderer(stderr: NodeJS.WritableStream, quiet = false): ProgressRenderer {
  const view = new TaskView()
  const tty = !quiet && (stderr as { isTTY?: boolean }).isTTY === true
  let drawn = 0
  const redraw = (): void => {
    const bars = [...walkTasks(view.roots)].filter((n) => n.status === 'pending' && n.progress?.total)
    const lines = bars.map(bar)
    stderr.write(`${drawn > 0 ? `\x1b[${drawn}F` : ''}\x1b[J${lines.map((l) => `${l}\n`).join('')}`)
    drawn = lines.length
  }
  const timer = tty ? setInterval(redraw, 250) : undefined
  timer?.unref()
  return {
    view,
    onEvent: (event) => {
      view.apply(event)
      const line = plainLine(view, event)
      if (line === undefined) return
      if (tty && drawn > 0) {
        stderr.write(`\x1b[${drawn}F\x1b[J`)
        drawn = 0
      }
      stderr.write(`${line}\n`)
    },
    stop: () => {
      clearInterval(timer)
      if (tty && drawn > 0) stderr.write(`\x1b[${drawn}F\x1b[J`)
    },
  }
}

function bar(node: TaskNode): string {
  const { done, total = 0 } = node.progress!
  const ratio = total > 0 ? Math.min(1, done / total) : 0
  const width = 24
  const filled = Math.round(ratio * width)
  const speed = node.speed === undefined ? '' : ` ${formatBytes(node.speed)}/s`
  const eta = node.etaMs === undefined ? '' : ` ETA ${formatDuration(node.etaMs)}`
  return `  ${label(node).padEnd(20)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(ratio * 100).toFixed(0).padStart(3)}%${speed}${eta}`
}

function plainLine(view: TaskView, event: TaskEvent): string | undefined {
  const node = view.get(event.id)
  if (node === undefined) return undefined
  const depth = ancestors(view, node)
  const indent = '  '.repeat(depth)
  if (event.type === 'warning') return `${indent}  warning: ${event.message}`
  if (event.type === 'start' && depth <= 1) return `${indent}${label(node)}: started`
  if (event.type !== 'end' || depth > 2) return undefined
  const error = node.error === undefined ? '' : ` (${node.error.code}: ${node.error.message})`
  return `${indent}${label(node)}: ${node.status} in ${formatDuration(node.durationMs ?? 0)}${facts(node)}${error}`
}

function ancestors(view: TaskView, node: TaskNode): number {
  let depth = 0
  for (let n = node; n.parentId !== undefined; n = view.get(n.parentId)!) depth++
  return depth
}

/** A task's name with what it is about: 'VM web-01', 'transfer disk 0', 'retention local'. */
export function label(node: TaskNode): string {
  const d = node.data
  const about =
    node.name === 'VM'
      ? d.name
      : node.name === 'transfer'
        ? d.disk === undefined
          ? undefined
          : `disk ${String(d.disk)}`
        : (d.target ?? d.repository ?? d.pool ?? (node.name === 'backup run' ? d.jobName : undefined))
  return about === undefined ? node.name : `${node.name} ${String(about)}`
}

/** Sizes and speeds worth a human's eye, from a task's facts and progress. */
export function facts(node: TaskNode): string {
  const d = node.data
  const parts: string[] = []
  if (typeof d.full === 'boolean') parts.push(d.full ? 'full' : 'delta')
  if (typeof d.bytesRead === 'number') parts.push(`read ${formatBytes(d.bytesRead)}`)
  if (typeof d.bytesStored === 'number') parts.push(`stored ${formatBytes(d.bytesStored)}`)
  if (typeof d.size === 'number') parts.push(`size ${formatBytes(d.size)}`)
  if (Array.isArray(d.removed)) parts.push(`kept ${String(d.kept)}, removed ${d.removed.length}`)
  if (node.progress !== undefined && node.speed !== undefined)
    parts.push(`${formatBytes(node.progress.done)} at ${formatBytes(node.speed)}/s`)
  return parts.length === 0 ? '' : `, ${parts.join(', ')}`
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  const m = Math.floor(ms / 60_000)
  return m < 60 ? `${m} min ${Math.round((ms % 60_000) / 1000)} s` : `${Math.floor(m / 60)} h ${m % 60} min`
}

/** The whole tree, for `backup logs RUNID`. */
export function formatTree(root: TaskNode): string {
  const lines: string[] = []
  const visit = (node: TaskNode, prefix: string, last: boolean, top: boolean): void => {
    const branch = top ? '' : last ? '└─ ' : '├─ '
    const duration = node.durationMs === undefined ? '' : ` in ${formatDuration(node.durationMs)}`
    lines.push(`${prefix}${branch}${label(node)}  ${node.status}${duration}${facts(node)}`)
    const inner = top ? '' : `${prefix}${last ? '   ' : '│  '}`
    for (const w of node.warnings) lines.push(`${inner}   ! ${w.message}`)
    if (node.error !== undefined) lines.push(`${inner}   ✗ ${node.error.code}: ${node.error.message}`)
    node.children.forEach((c, i) => visit(c, inner, i === node.children.length - 1, false))
  }
  visit(root, '', true, true)
  return lines.join('\n')
}
