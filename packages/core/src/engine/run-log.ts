// Run logs: every task event of a run, one JSON line each, in `<dir>/<runId>.jsonl`, written as it
// happens (synchronous appends, so a killed process loses nothing it reported). Reading a log rebuilds
// the task tree; a run whose process is gone without an end is shown as interrupted.
import { closeSync, openSync, writeSync } from 'node:fs'
import { appendFile, mkdir, readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { StrataError, type TaskStatus } from '../shared/index.js'
import type { TaskEvent } from './task-tree.js'
import { TaskView, type TaskNode } from './task-view.js'

export class RunLogError extends StrataError {}

const RUN_ID = /^[A-Za-z0-9._-]+$/

export interface RunLogWriter {
  append(event: TaskEvent): void
  close(): void
}

export async function openRunLog(dir: string, runId: string): Promise<RunLogWriter> {
  checkRunId(runId)
  await mkdir(dir, { recursive: true })
  const fd = openSync(join(dir, `${runId}.jsonl`), 'a')
  let open = true
  return {
    append: (event) => {
      if (open) writeSync(fd, `${JSON.stringify(event)}\n`)
    },
    close: () => {
      if (open) closeSync(fd)
      open = false
    },
  }
}

/** Appends one event to a run's log from another process (the parent of a worker that died). */
export async function appendRunEvent(dir: string, runId: string, event: TaskEvent): Promise<void> {
  checkRunId(runId)
  const path = join(dir, `${runId}.jsonl`)
  const text = await readFile(path, 'utf8').catch(() => '')
  // A process killed mid-write leaves a torn line: start on a fresh one so this event stays readable.
  const prefix = text === '' || text.endsWith('\n') ? '' : '\n'
  await appendFile(path, `${prefix}${JSON.stringify(event)}\n`)
}

export interface RunSummary {
  readonly runId: string
  readonly jobId: string
  readonly jobName: string
  readonly scheduleId?: string
  readonly status: TaskStatus
  readonly start: number
  readonly end?: number
  readonly vms: Record<TaskStatus, number>
  readonly warnings: number
  /** Names, as the run's tree has them (pools, repositories, VMs). */
  readonly pools: readonly string[]
  readonly repositories: readonly string[]
  readonly vmNames: readonly string[]
  /** The restore points the run wrote, per VM and repository. */
  readonly points: readonly RunPoint[]
}

export interface RunPoint {
  readonly vm: string
  readonly vmUuid: string
  readonly target: string
  readonly pointId: string
}

export interface RunFilter {
  readonly jobId?: string
  readonly status?: TaskStatus
  /** Runs started at or after this time (ms since the epoch). */
  readonly since?: number
}

/** The run's tree (its root task is the run). */
export async function readRun(dir: string, runId: string): Promise<TaskNode> {
  checkRunId(runId)
  let text: string
  try {
    text = await readFile(join(dir, `${runId}.jsonl`), 'utf8')
  } catch (cause) {
    throw new RunLogError('RUN_NOT_FOUND', `no run '${runId}' in log directory '${dir}'`, { cause })
  }
  const view = new TaskView()
  let last = 0
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    const event = parseLine(line)
    // A process killed mid-write leaves a torn last line: skip it, keep the rest.
    if (event === undefined) continue
    view.apply(event)
    last = Math.max(last, event.time)
  }
  const root = view.roots[0]
  if (root === undefined) throw new RunLogError('RUN_LOG_EMPTY', `the log of run '${runId}' holds no task`)
  // Tasks still pending in the log of a process that is gone will never end: they were interrupted.
  if (!isAlive(root.data.pid)) {
    view.interruptPending(last, { code: 'PROCESS_GONE', message: 'the process running it stopped' })
  }
  return root
}

/** Runs in the directory, newest first. */
export async function listRuns(dir: string, filter: RunFilter = {}): Promise<RunSummary[]> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    return []
  }
  const runs: RunSummary[] = []
  for (const name of names.filter((n) => n.endsWith('.jsonl'))) {
    const root = await readRun(dir, name.slice(0, -'.jsonl'.length)).catch(() => undefined)
    if (root !== undefined) runs.push(summarize(root))
  }
  return runs
    .filter(
      (r) =>
        (filter.jobId === undefined || r.jobId === filter.jobId) &&
        (filter.status === undefined || r.status === filter.status) &&
        (filter.since === undefined || r.start >= filter.since),
    )
    .sort((a, b) => b.start - a.start || b.runId.localeCompare(a.runId))
}

export function summarize(root: TaskNode): RunSummary {
  const vms: Record<TaskStatus, number> = {
    pending: 0,
    success: 0,
    failure: 0,
    interrupted: 0,
    skipped: 0,
    warning: 0,
  }
  let warnings = root.warnings.length
  const vmNames: string[] = []
  const points: RunPoint[] = []
  for (const child of root.children) {
    if (child.name === 'VM') {
      vms[child.status]++
      vmNames.push(String(child.data.name ?? child.data.uuid))
      points.push(...pointsOf(child))
    }
    warnings += countWarnings(child)
  }
  return {
    runId: String(root.data.runId),
    jobId: String(root.data.jobId),
    jobName: String(root.data.jobName ?? root.data.jobId),
    scheduleId: typeof root.data.scheduleId === 'string' ? root.data.scheduleId : undefined,
    status: root.status,
    start: root.start,
    end: root.end,
    vms,
    warnings,
    pools: strings(root.data.pools),
    repositories: strings(root.data.repositories),
    vmNames,
    points,
  }
}

function pointsOf(vm: TaskNode): RunPoint[] {
  const written = Array.isArray(vm.data.points) ? (vm.data.points as Record<string, unknown>[]) : []
  return written.map((p) => ({
    vm: String(vm.data.name ?? vm.data.uuid),
    vmUuid: String(vm.data.uuid),
    target: String(p.target),
    pointId: String(p.pointId),
  }))
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.map(String) : []
}

function countWarnings(node: TaskNode): number {
  return node.children.reduce((n, c) => n + countWarnings(c), node.warnings.length)
}

function parseLine(line: string): TaskEvent | undefined {
  try {
    const event = JSON.parse(line) as TaskEvent
    return typeof event === 'object' && event !== null && typeof event.id === 'string' ? event : undefined
  } catch {
    return undefined
  }
}

function isAlive(pid: unknown): boolean {
  if (typeof pid !== 'number') return false
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function checkRunId(runId: string): void {
  if (!RUN_ID.test(runId)) throw new RunLogError('INVALID_RUN_ID', `'${runId}' is not a run id`)
}
