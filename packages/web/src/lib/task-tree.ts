// Keeps a run's task tree (as GET /api/runs/:runId returned it) up to date with the live task events of
// /api/events, and derives what the log view shows: sizes, speeds, durations and ETAs.
import type { Task, TaskEvent } from '@strata/contract'

function find(root: Task, taskId: string): Task | undefined {
  if (root.id === taskId) return root
  for (const child of root.children) {
    const found = find(child, taskId)
    if (found !== undefined) return found
  }
  return undefined
}

/** Applies one event to the tree in place; returns false when it names a task the tree does not have. */
export function applyTaskEvent(root: Task, event: TaskEvent): boolean {
  if (event.type === 'start') {
    if (find(root, event.id) !== undefined) return true // already in the fetched tree
    const parent = event.parentId === undefined ? undefined : find(root, event.parentId)
    if (parent === undefined) return false
    parent.children.push({
      id: event.id,
      name: event.name,
      status: 'pending',
      start: event.time,
      data: { ...event.data },
      warnings: [],
      infos: [],
      children: [],
    })
    return true
  }
  const task = find(root, event.id)
  if (task === undefined) return false
  switch (event.type) {
    case 'end':
      task.status = event.status
      task.end = event.time
      if (event.error !== undefined) task.error = event.error
      task.eta = undefined
      if (task.progress !== undefined && event.time > task.start)
        task.speed = (task.progress.done * 1000) / (event.time - task.start)
      break
    case 'info':
      ;(task.infos ??= []).push({ message: event.message, time: event.time, data: event.data })
      break
    case 'warning':
      task.warnings.push({ message: event.message, time: event.time, data: event.data })
      break
    case 'set':
      task.data = { ...task.data, ...event.data }
      break
    case 'progress': {
      task.progress = { done: event.done, total: event.total }
      const elapsed = event.time - task.start
      if (elapsed > 0 && event.done > 0) {
        task.speed = (event.done * 1000) / elapsed
        task.eta = event.total === undefined ? undefined : ((event.total - event.done) * 1000) / task.speed
      }
    }
  }
  return true
}

/** The fraction done, when the task reports a total. */
export function fraction(task: Pick<Task, 'progress' | 'status'>): number | undefined {
  if (task.status === 'success') return 1
  const p = task.progress
  if (p === undefined || p.total === undefined || p.total <= 0) return undefined
  return Math.min(1, Math.max(0, p.done / p.total))
}

/** Every warning in the tree with the name of its task, for the run's summary. */
export function allWarnings(root: Task): { task: string; message: string }[] {
  const out: { task: string; message: string }[] = []
  const walk = (task: Task) => {
    for (const w of task.warnings) out.push({ task: task.name, message: w.message })
    task.children.forEach(walk)
  }
  walk(root)
  return out
}

/** The deepest failed tasks: where the reason of a failure is. */
export function failureReasons(
  root: Task,
  names: Names = {},
): { task: string; code: string; message: string }[] {
  const out: { task: string; code: string; message: string }[] = []
  const walk = (task: Task): boolean => {
    let below = false
    for (const child of task.children) below = walk(child) || below
    if (task.status === 'failure' && task.error !== undefined && !below) {
      out.push({ task: taskTitle(task, names), code: task.error.code, message: task.error.message })
      return true
    }
    return below || (task.status === 'failure' && task.error !== undefined)
  }
  walk(root)
  return out
}

/** Display names of the server's ids (pools, repositories), for task titles. */
export type Names = Record<string, string>

/** A task's name with what it is about (a VM's name, a disk, a repository). */
export function taskTitle(task: Pick<Task, 'name' | 'data'>, names: Names = {}): string {
  const d = task.data
  const about = [
    d.name_label,
    d.vmName,
    d.name,
    d.repository,
    d.disk !== undefined ? `disk ${String(d.disk)}` : undefined,
    d.pool,
  ]
    .filter((v) => typeof v === 'string' || typeof v === 'number')
    .map((v) => names[String(v)] ?? String(v))
  return about.length > 0 && about[0] !== task.name ? `${task.name} ${about[0]}` : task.name
}
