// Run logs: every task event of a run, one JSON line each, in `<dir>/<runId>.jsonl`, written as it
// happens (synchronous appends, so a killed process loses nothing it reported). Reading a log rebuilds
// the task tree; a run whose process is gone without an end is shown as interrupted. Listing runs reads
// the summaries of ended runs (run-summaries.ts), and only the logs of runs without one.
import { closeSync, fstatSync, openSync, readFileSync, writeSync } from 'node:fs'
import { appendFile, mkdir, readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { StrataError, type TaskStatus } from '../shared/index.js'
import type { TaskEvent } from './task-tree.js'
import { TaskView, type TaskNode } from './task-view.js'
import {
  appendSummary,
  appendSummarySync,
  readSummaries,
  type RunPoint,
  type RunSummary,
} from './run-summaries.js'

export class RunLogError extends StrataError {}

const RUN_ID = /^[A-Za-z0-9._-]+$/

export interface RunLogWriter {
  append(event: TaskEvent): void
  close(): void
}

export async function openRunLog(dir: string, runId: string): Promise<RunLogWriter> {
  checkRunId(runId)
  await mkdir(dir, { recursive: true })
  const path = join(dir, `${runId}.jsonl`)
  const fd = openSync(path, 'a')
  let open = true
  let rootId = fstatSync(fd).size === 0 ? undefined : readRoot(path)
  return {
    append: (event) => {
      if (!open) return
      writeSync(fd, `${JSON.stringify(event)}\n`)
      if (event.type === 'start' && event.parentId === undefined) rootId ??= event.id
      if (event.type === 'end' && event.id === rootId) summarizeAtEnd(dir, runId, path)
    },
    close: () => {
      if (open) closeSync(fd)
      open = false
    },
  }
}

/** The run ended: its summary is written now, once, so that listings never replay this log. */
function summarizeAtEnd(dir: string, runId: string, path: string): void {
  try {
    const bytes = readFileSync(path)
    appendSummarySync(dir, bytes.length, summarize(treeOf(runId, bytes.toString('utf8'))))
  } catch {
    // Best effort: without a summary, the first listing reads the log and writes one.
  }
}

function readRoot(path: string): string | undefined {
  const first = parseLine(readFileSync(path, 'utf8').split('\n', 1)[0] ?? '')
  return first?.type === 'start' && first.parentId === undefined ? first.id : undefined
}

/** Appends one event to a run's log from another process (the parent of a worker that died). */
export async function appendRunEvent(dir: string, runId: string, event: TaskEvent): Promise<void> {
  checkRunId(runId)
  const path = join(dir, `${runId}.jsonl`)
  const text = await readFile(path, 'utf8').catch(() => '')
  // A process killed mid-write leaves a torn line: start on a fresh one so this event stays readable.
  const prefix = text === '' || text.endsWith('\n') ? '' : '\n'
  await appendFile(path, `${prefix}${JSON.stringify(event)}\n`)
  // The log grew: its summary, if it has one, is made again (the longer log's wins).
  await summaryFromLog(dir, runId)
}

export type { RunPoint, RunSummary } from './run-summaries.js'

export interface RunFilter {
  readonly jobId?: string
  readonly status?: TaskStatus
  /** Runs started at or after this time (ms since the epoch). */
  readonly since?: number
}

/** The run's tree (its root task is the run). */
export async function readRun(dir: string, runId: string): Promise<TaskNode> {
  return (await readRunLog(dir, runId)).root
}

async function readRunLog(dir: string, runId: string): Promise<{ root: TaskNode; bytes: number }> {
  checkRunId(runId)
  let bytes: Buffer
  try {
    bytes = await readFile(join(dir, `${runId}.jsonl`))
  } catch (cause) {
    throw new RunLogError('RUN_NOT_FOUND', `no run '${runId}' in log directory '${dir}'`, { cause })
  }
  return { root: treeOf(runId, bytes.toString('utf8')), bytes: bytes.length }
}

function treeOf(runId: string, text: string): TaskNode {
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

/** Runs in the directory, newest first: from their summaries, and the logs of runs without one. */
export async function listRuns(dir: string, filter: RunFilter = {}): Promise<RunSummary[]> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    return []
  }
  const ids = names.filter((n) => n.endsWith('.jsonl')).map((n) => n.slice(0, -'.jsonl'.length))
  const summaries = await readSummaries(dir)
  const runs: RunSummary[] = []
  const unsummarized: string[] = []
  for (const id of ids) {
    const known = summaries.get(id)?.summary
    if (known !== undefined) runs.push(known)
    else unsummarized.push(id)
  }
  // Runs going on, and logs of older versions: a few at once, not to run out of descriptors.
  for (let i = 0; i < unsummarized.length; i += LOG_READS) {
    const batch = unsummarized.slice(i, i + LOG_READS)
    for (const run of await Promise.all(batch.map((id) => summaryFromLog(dir, id))))
      if (run !== undefined) runs.push(run)
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

const LOG_READS = 16

/** A run's summary from its log; kept in the summaries once the run ended (or its process is gone). */
async function summaryFromLog(dir: string, runId: string): Promise<RunSummary | undefined> {
  const read = await readRunLog(dir, runId).catch(() => undefined)
  if (read === undefined) return undefined
  const summary = summarize(read.root)
  if (summary.status !== 'pending') await appendSummary(dir, read.bytes, summary)
  return summary
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
