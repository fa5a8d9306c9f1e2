// Live rendering of a task tree on stderr: on a terminal, one progress bar per running transfer redrawn
// in place (percent, speed, ETA); otherwise plain lines as tasks start and end, for logs and CI.
import {
  TaskView,
  formatDuration,
  taskFacts as facts,
  taskLabel as label,
  walkTasks,
  type TaskEvent,
  type TaskNode,
} from '@strata/core/engine'
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

// One way to name a task and its facts, shared with the run reports of the engine and the server.
export { taskLabel as label, taskFacts as facts, formatDuration } from '@strata/core/engine'

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
