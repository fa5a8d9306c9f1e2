// What several server instances must agree on, behind one narrow interface (docs/scale-out.md, "Several
// servers"): which instance's scheduler fires schedules (the leader), that each schedule tick fires once
// across the cluster, which instance runs a run (a lease it renews; an instance that died loses its runs
// to the others, which resume them), and the live events every instance's browsers see. The local
// implementation is one instance alone (SQLite: what the server always did); pg-coordinator.ts is the
// PostgreSQL one.
import type { TaskEvent } from '@strata/core/engine'
import type { RunRow } from '../runs/run-store.js'

/** A live event of the run bus, as it crosses instances. */
export type ClusterEvent =
  | { readonly type: 'task'; readonly runId: string; readonly event: TaskEvent }
  | { readonly type: 'run'; readonly row: RunRow }
  /** Jobs were changed through this instance's API: the others' schedulers read them again. */
  | { readonly type: 'jobs' }

/** A run as the cluster knows it: enough to resume it elsewhere. */
export interface ClusterRun {
  readonly runId: string
  readonly jobId: string
  readonly scheduleId?: string
}

/**
 * The job id under which a run that is not a job's (a restore, a maintenance run, an import) is leased:
 * one of its own, so that such runs never refuse each other; a dead instance's one ends interrupted and
 * is not started again (cluster-wiring.ts).
 */
export const OTHER_RUN = 'run-of-its-own:'

/** A run whose owner stopped renewing its lease, now handed to this instance (once, cluster-wide). */
export interface OrphanRun extends ClusterRun {
  /** The instance that ran it and died (or lost the database). */
  readonly owner: string
}

export interface Coordinator {
  /** This instance's id in the cluster (unique per start). */
  readonly instanceId: string
  /** Whether other instances may share the work (the scheduler then asks before firing). */
  readonly shared: boolean
  /** Whether this instance fires schedules now. */
  isLeader(): boolean
  /** Called on every change of leadership; returns the unsubscribe function. */
  onLeadership(listener: (leader: boolean) => void): () => void
  /** True for exactly one caller across the cluster per (job, schedule, due time). */
  claimTick(jobId: string, scheduleId: string, dueAt: number, signal?: AbortSignal): Promise<boolean>
  /** The latest due time claimed for the schedule across the cluster. */
  lastTick(jobId: string, scheduleId: string, signal?: AbortSignal): Promise<number | undefined>
  /**
   * Records that this instance runs the run, under a lease it renews until releaseRun. Refuses (a
   * ClusterError JOB_RUNNING_ELSEWHERE) when another instance holds a live lease on a run of the job.
   */
  claimRun(run: ClusterRun, signal?: AbortSignal): Promise<void>
  /**
   * Of these runs, the ones an instance holds a live lease on (running, lease not expired): a server
   * starting on a shared store must not end another instance's runs as interrupted.
   */
  liveRuns(runIds: readonly string[], signal?: AbortSignal): Promise<Set<string>>
  /** The run ended here: its lease goes. */
  releaseRun(runId: string, status: string, signal?: AbortSignal): Promise<void>
  /** Runs reclaimed from a dead owner, each handed to one instance's listeners once. */
  onOrphan(listener: (run: OrphanRun) => void): () => void
  /** A run of this instance whose lease another instance took (this one was presumed dead): stop it. */
  onLost(listener: (runId: string) => void): () => void
  /** Sends a live event to the other instances (best effort: live events, not records). */
  publish(event: ClusterEvent): void
  /** Events published by the other instances. */
  subscribe(listener: (event: ClusterEvent) => void): () => void
  start(signal?: AbortSignal): Promise<void>
  /** Releases leadership and connections; this instance's leases lapse unless released first. */
  stop(): Promise<void>
}
