// A run's task tree, from the best record there is: the engine's log on this instance's disk (the runs
// it ran: always with SQLite), else the events in the shared store (run-event-log.ts: runs of another
// instance, also one that died), else the run's row alone (a worker that failed before its first task).
import { readRun, TaskView, type TaskNode } from '@strata/core/engine'
import type { RunEventLog } from './run-event-log.js'
import { nameTree } from './run-names.js'
import type { RunRow, RunStore } from './run-store.js'

export interface RunTreeSources {
  readonly runsDir: string
  readonly runs: Pick<RunStore, 'details'>
  readonly events?: Pick<RunEventLog, 'read'>
}

export async function runTree(s: RunTreeSources, row: RunRow): Promise<TaskNode> {
  const tree =
    (await readRun(s.runsDir, row.runId).catch(() => undefined)) ?? (await storedTree(s, row)) ?? rowTree(row)
  return nameTree(tree, (await s.runs.details(row.runId)).names)
}

/** The tree the stored events make; tasks still pending in a run that ended were cut short with it. */
async function storedTree(s: RunTreeSources, row: RunRow): Promise<TaskNode | undefined> {
  const events = await s.events?.read(row.runId)
  if (events === undefined) return undefined
  const view = new TaskView()
  for (const event of events) view.apply(event)
  const root = view.roots[0]
  if (root === undefined) return undefined
  if (row.status !== 'pending') {
    const last = events.reduce((t, e) => Math.max(t, e.time), root.start)
    view.interruptPending(
      row.end ?? last,
      row.error ?? { code: 'SERVER_STOPPED', message: 'the server instance running it stopped' },
    )
  }
  return root
}

function rowTree(row: RunRow): TaskNode {
  return {
    id: '0',
    name: ['backup', 'replication', 'mirror', 'metadata'].includes(row.kind) ? `${row.kind} run` : row.kind,
    status: row.status,
    data: { runId: row.runId, jobId: row.jobId, jobName: row.jobName },
    start: row.start,
    end: row.end,
    error: row.error,
    warnings: [],
    infos: [],
    children: [],
  }
}
