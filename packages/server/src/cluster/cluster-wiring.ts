// How a server instance takes part in its cluster (start-server.ts calls this once): the scheduler
// catches up when this instance becomes the leader, runs reclaimed from a dead instance are resumed here
// (a new run of the job, which stores only what the repository lacks),
// a run whose lease was taken is stopped here, and live events go both ways: this instance's to the
// others, theirs to this instance's browsers only (`events`), never to its own reporting or retention,
// which act on the runs of their own instance.
import { errorMessage } from '@strata/core'
import type { TaskEvent } from '@strata/core/engine'
import type { JobStore } from '../jobs/job-store.js'
import type { RunBus } from '../runs/run-bus.js'
import type { RunManager } from '../runs/run-manager.js'
import type { RunRow } from '../runs/run-store.js'
import type { Scheduler } from '../scheduler/scheduler.js'
import type { ServerLog } from '../server-log.js'
import { ClusterError } from './cluster-error.js'
import { OTHER_RUN, type Coordinator, type OrphanRun } from './coordinator.js'

export interface ClusterWiring {
  readonly coordinator: Coordinator
  readonly scheduler: Pick<Scheduler, 'takeOver' | 'reload'>
  readonly runs: Pick<RunManager, 'startJob' | 'abortRun' | 'endOrphan'>
  readonly jobs: Pick<JobStore, 'list'>
  /** This instance's run events. */
  readonly bus: RunBus
  /** What this instance's browsers see: its own events and the other instances'. */
  readonly events: RunBus
  readonly log: ServerLog
}

/** Connects the pieces; returns the function that disconnects them. */
export function wireCluster(w: ClusterWiring): () => void {
  const { coordinator, bus, events, log } = w
  const onTask = (e: { runId: string; event: TaskEvent }): void => {
    events.emit('task', e)
    coordinator.publish({ type: 'task', ...e })
  }
  const onRun = (row: RunRow): void => {
    events.emit('run', row)
    coordinator.publish({ type: 'run', row })
  }
  bus.on('task', onTask)
  bus.on('run', onRun)
  const undo = [
    () => bus.off('task', onTask),
    () => bus.off('run', onRun),
    coordinator.subscribe((e) => {
      if (e.type === 'task') events.emit('task', e)
      else if (e.type === 'run') events.emit('run', e.row)
      else reloadJobs(w)
    }),
    coordinator.onLeadership((leader) => {
      // The jobs again first: a change announced while this instance was not listening is read now.
      if (leader) void w.scheduler.reload().finally(() => w.scheduler.takeOver())
    }),
    coordinator.onOrphan((run) => resumeOrphan(w, run)),
    coordinator.onLost((runId) => {
      const reason = new ClusterError(
        'JOB_RUNNING_ELSEWHERE',
        `run '${runId}' was taken over by another server instance (this one lost the database too long)`,
      )
      if (w.runs.abortRun(runId, reason)) log.warn(reason.message)
    }),
  ]
  return () => undo.forEach((u) => u())
}

function reloadJobs(w: ClusterWiring): void {
  w.scheduler
    .reload()
    .catch((error: unknown) =>
      w.log.error(`could not read the jobs changed elsewhere: ${errorMessage(error)}`),
    )
}

function resumeOrphan(w: ClusterWiring, run: OrphanRun): void {
  void resume(w, run).catch((error: unknown) =>
    w.log.error(`run '${run.runId}' was interrupted and cannot resume: ${errorMessage(error)}`),
  )
}

async function resume(w: ClusterWiring, run: OrphanRun): Promise<void> {
  await w.runs.endOrphan(run.runId, run.owner)
  if (run.jobId.startsWith(OTHER_RUN)) {
    // A restore or maintenance run: what it was asked is not a job's to run again; an admin decides.
    w.log.warn(`run '${run.runId}' was interrupted on instance '${run.owner}'; it is not started again`)
    return
  }
  const job = (await w.jobs.list()).find((j) => j.id === run.jobId)
  if (job === undefined || !job.enabled) {
    w.log.warn(`run '${run.runId}' of instance '${run.owner}' was interrupted; its job is gone or disabled`)
    return
  }
  try {
    await w.runs.startJob(job, run.scheduleId)
    w.log.warn(
      `run '${run.runId}' of job '${job.name}' was interrupted on instance '${run.owner}': resumed here`,
    )
  } catch (error) {
    w.log.error(
      `run '${run.runId}' of job '${job.name}' was interrupted and cannot resume: ${errorMessage(error)}`,
    )
  }
}
