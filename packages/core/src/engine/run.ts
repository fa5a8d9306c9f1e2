// A run of a job: lock the job (a run never overlaps itself), connect its pools, open its repositories,
// select the VMs, back them up a few at a time (each VM its own task, retried N times), apply each
// schedule's retention, and record every task event in the run's log. Effects are injected (RunDeps) so
// that the orchestration is tested without a pool and the worker supplies the real ones.
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import type { Repository, RepositoryIdentity } from '../repository/index.js'
import {
  Semaphore,
  StrataError,
  allowManyListeners,
  anySignal,
  errorMessage,
  throwIfAborted,
  type TaskContext,
  type TaskStatus,
} from '../shared/index.js'
import type { Job, PoolConnection, RepositoryTarget, Schedule } from './job.js'
import { lockJob } from './job-lock.js'
import {
  fullDue,
  readJobState,
  recordedRepository,
  recordRepository,
  recordRun,
  writeJobState,
  type JobState,
} from './job-state.js'
import type { PoolLimits } from './limits.js'
import type { PoolSession } from './pool-session.js'
import { openRunLog } from './run-log.js'
import { runVm, type VmOutcome } from './run-vm.js'
import { selectVms, type SelectedVm } from './selection.js'
import {
  RunTimeoutError,
  TaskSkipped,
  TaskWarning,
  runRootTask,
  statusOf,
  type TaskEvent,
} from './task-tree.js'
import type { BackupTarget, backupVm } from './vm-backup.js'
import type { AfterRunCheck } from './health/after-run.js'
import type { replicateVm } from './replication/replicate-vm.js'
import { replicateSelected, targetSessions } from './replication/run-replication.js'
import { runMirror } from './mirror/mirror-job.js'
import { backupMetadata, type MetadataRunContext } from './metadata-run.js'

export interface RunDeps {
  connectPool(pool: PoolConnection, signal: AbortSignal): Promise<PoolSession>
  openRepository(
    target: RepositoryTarget,
    signal: AbortSignal,
    options?: OpenTargetOptions,
  ): Promise<Repository>
  backupVm: typeof backupVm
  /** Replication runs need it (test effects of backups may leave it out). */
  replicateVm?: typeof replicateVm
  /** The shared limits of a pool (by uuid): the process's registry, or the parent's through a worker. */
  limits(poolUuid: string): PoolLimits
  retryDelayMs?: number
  /** Who runs health checks (a server's id): its leftovers are swept when it starts again. */
  healthCheckOwner?: string
}

export interface OpenTargetOptions {
  /** What this job recorded of the repository before (see job-state.ts). */
  readonly expected?: RepositoryIdentity
  /**
   * The job has several repositories, so one passphrase given for the job is not given for each of
   * them: a plain one among them is no error (while a job of one repository refuses a passphrase for a
   * plain repository).
   */
  readonly passphraseShared: boolean
  /**
   * The repository's secrets are the environment's STRATA_REPO_<slot>_* variables rather than the job's
   * one set (a mirror opens repositories with different secrets: worker-secrets.ts).
   */
  readonly slot?: number
}

export interface RunOptions {
  readonly job: Job
  readonly scheduleId?: string
  readonly runId?: string
  /** Holds runs/ (logs), locks/ and state/. */
  readonly dataDir: string
  readonly signal: AbortSignal
  readonly onEvent?: (event: TaskEvent) => void
  readonly deps: RunDeps
  /** A metadata job's: the caller's files stored beside the pools' (the server's configuration). */
  readonly configFiles?: MetadataRunContext['configFiles']
  readonly configInfo?: MetadataRunContext['configInfo']
}

export interface RunResult {
  readonly runId: string
  readonly status: TaskStatus
  readonly vms: VmOutcome[]
}

export class RunError extends StrataError {}

export function makeRunId(now = new Date()): string {
  return `${now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}-${randomBytes(3).toString('hex')}`
}

export const runDirs = (dataDir: string) => ({
  runs: join(dataDir, 'runs'),
  locks: join(dataDir, 'locks'),
  state: join(dataDir, 'state'),
  resume: join(dataDir, 'resume'),
})

export async function runJob(o: RunOptions): Promise<RunResult> {
  const schedule = findSchedule(o.job, o.scheduleId)
  const runId = o.runId ?? makeRunId()
  const dirs = runDirs(o.dataDir)
  const lock = await lockJob(dirs.locks, o.job.id)
  const log = await openRunLog(dirs.runs, runId).catch(async (error: unknown) => {
    await lock.release()
    throw error
  })
  const timeoutMs = o.job.settings.timeoutMs
  const timeout = new AbortController()
  const timer =
    timeoutMs > 0 ? setTimeout(() => timeout.abort(new RunTimeoutError(timeoutMs)), timeoutMs) : undefined
  // Every VM, disk and waiting slot of a run listens to this one signal.
  const signal = allowManyListeners(anySignal(o.signal, timeout.signal))
  const vms: VmOutcome[] = []
  let status: TaskStatus = 'success'
  try {
    await runRootTask(
      {
        emit: (event) => {
          log.append(event)
          o.onEvent?.(event)
        },
        signal,
      },
      `${o.job.kind} run`,
      (task) =>
        o.job.kind === 'mirror'
          ? runMirror(task, o, schedule)
          : runBody(task, o, schedule, runId, dirs.state, vms),
      {
        runId,
        jobId: o.job.id,
        jobName: o.job.name,
        kind: o.job.kind,
        scheduleId: schedule?.id,
        mode: o.job.settings.mode,
        pools: o.job.pools.map((p) => p.name ?? p.id),
        ...(o.job.kind === 'mirror'
          ? {
              repositories: o.job.repositories.map((r) => r.name),
              mirrorTo: o.job.mirrorTo.map((r) => r.name),
            }
          : o.job.kind === 'replication'
            ? {
                targets: o.job.targets.map((t) => ({ pool: t.pool, sr: t.sr })),
                withMemory: o.job.settings.withMemory,
              }
            : { repositories: o.job.repositories.map((r) => r.name) }),
        pid: process.pid,
      },
    )
  } catch (error) {
    status = statusOf(error)
  } finally {
    clearTimeout(timer)
    log.close()
    await lock.release()
  }
  return { runId, status, vms }
}

function findSchedule(job: Job, scheduleId: string | undefined): Schedule | undefined {
  if (scheduleId === undefined && job.schedules.length > 1) {
    // Which retention applies depends on the schedule: never guess it.
    const ids = job.schedules.map((s) => s.id).join(', ')
    throw new RunError('NO_SCHEDULE', `job '${job.id}' has schedules ${ids}: say which one this run is for`)
  }
  if (scheduleId === undefined) return job.schedules[0]
  const schedule = job.schedules.find((s) => s.id === scheduleId)
  if (schedule === undefined)
    throw new RunError('NO_SCHEDULE', `job '${job.id}' has no schedule '${scheduleId}'`)
  return schedule
}

/** What the steps of one run share. */
interface RunScope {
  readonly task: TaskContext
  readonly o: RunOptions
  readonly schedule: Schedule | undefined
  readonly runId: string
  readonly stateDir: string
  readonly state: JobState
  readonly pools: PoolSession[]
  /** Pools that could not be reached or logged into: the run fails, whatever its VMs did. */
  readonly unreachable: string[]
  readonly targets: BackupTarget[]
  readonly outcomes: VmOutcome[]
}

async function runBody(
  task: TaskContext,
  o: RunOptions,
  schedule: Schedule | undefined,
  runId: string,
  stateDir: string,
  outcomes: VmOutcome[],
): Promise<void> {
  const state = await readJobState(stateDir, o.job.id)
  const scope: RunScope = {
    ...{ task, o, schedule, runId, stateDir, state, outcomes },
    ...{ pools: [], unreachable: [], targets: [] },
  }
  try {
    await connectPools(scope)
    if (o.job.kind === 'metadata') return await metadataBody(scope)
    if (o.job.kind === 'backup') await openTargets(scope)
    else if (targetSessions(o.job, scope.pools).length === 0)
      throw new RunError('NO_TARGET', `no target SR of job '${o.job.name}' is on a pool that answered`)
    const selection = selectVms(o.job.vms, scope.pools)
    task.info('vms', { vms: selection.vms.map((v) => v.uuid) })
    for (const problem of selection.problems) {
      await task
        .child('VM', () => Promise.reject(new RunError('VM_NOT_FOUND', problem.reason)), { name: problem.vm })
        .catch(() => outcomes.push({ uuid: '', name: problem.vm, status: 'failure', attempts: 0 }))
    }
    // Nothing matched on the pools that answered: a selection matching nothing is skipped only when
    // every pool could be asked.
    if (selection.vms.length === 0 && selection.problems.length === 0 && scope.unreachable.length === 0) {
      throw new TaskSkipped(`no VM matches the selection of job '${o.job.name}'`)
    }
    if (o.job.kind === 'backup') await backupAll(scope, selection.vms)
    else await replicateSelected(replicationContext(scope), selection.vms)
    const failed = outcomes.filter((v) => v.status !== 'success' && v.status !== 'warning')
    const checks = outcomes.filter((v) => v.status === 'warning')
    // A cancelled run is interrupted (a timed-out one fails), whatever its VMs did.
    if (failed.length > 0 || scope.unreachable.length > 0) throwIfAborted(task.signal)
    if (scope.unreachable.length > 0) throw unreachableError(scope.unreachable, failed.length)
    if (failed.length > 0)
      throw new RunError('VMS_FAILED', `${failed.length} of ${outcomes.length} VMs failed`)
    if (checks.length > 0)
      throw new TaskWarning('HEALTH_CHECK_FAILED', `the health check of ${checks.length} VM(s) failed`)
  } finally {
    await Promise.all([
      ...scope.pools.map((p) => p.close().catch(() => undefined)),
      ...scope.targets.map((t) => Promise.resolve(t.repository.store.close?.()).catch(() => undefined)),
    ])
  }
}

/** A metadata job's run: each pool that answered, the caller's files, then the pools that did not. */
async function metadataBody(scope: RunScope): Promise<void> {
  await openTargets(scope)
  const { task, o, schedule, pools, targets, unreachable } = scope
  const files = { configFiles: o.configFiles, configInfo: o.configInfo }
  const failed = await backupMetadata({ task, job: o.job, schedule, pools, targets, ...files })
  throwIfAborted(task.signal)
  const missed = [...unreachable, ...failed]
  if (missed.length > 0)
    throw new RunError(
      unreachable.length > 0 ? 'POOL_UNREACHABLE' : 'METADATA_FAILED',
      `the database of ${missed.length} pool(s) was not backed up: ${missed.join('; ')}`,
    )
}

function replicationContext(scope: RunScope) {
  const { task, o, schedule, runId, pools, outcomes } = scope
  const replicate = o.deps.replicateVm
  if (replicate === undefined) throw new RunError('NO_REPLICATION', 'these run effects cannot replicate')
  return {
    ...{ task, job: o.job, schedule, runId, pools, outcomes },
    limits: (uuid: string) => o.deps.limits(uuid),
    replicateVm: replicate,
    retryDelayMs: o.deps.retryDelayMs ?? 2000,
    ...(o.deps.healthCheckOwner === undefined ? {} : { healthCheckOwner: o.deps.healthCheckOwner }),
  }
}

/** The schedule's health check for a VM: on the schedule's pool, else the VM's. */
function healthCheckFor(scope: RunScope, vm: SelectedVm): AfterRunCheck | undefined {
  const policy = scope.schedule?.healthCheck
  if (policy === undefined) return undefined
  const session = scope.pools.find((p) => p.poolId === (policy.pool ?? vm.poolId))
  if (session === undefined) return undefined
  const owner = scope.o.deps.healthCheckOwner
  const limits = scope.o.deps.limits(session.uuid)
  return { policy, xapi: session.xapi, limits, ...(owner === undefined ? {} : { owner }) }
}

async function connectPools({ task, o, pools, unreachable }: RunScope): Promise<void> {
  for (const pool of o.job.pools) {
    const data = { pool: pool.id, ...(pool.name === undefined ? {} : { name: pool.name }), url: pool.url }
    await task
      .child('connect pool', (t) => o.deps.connectPool(pool, t.signal), data)
      .then((session) => pools.push(session))
      // A failed task in the tree; the other pools' VMs still run, and the run fails at its end.
      .catch((error: unknown) =>
        unreachable.push(`pool '${pool.name ?? pool.id}' (${pool.url}): ${errorMessage(error)}`),
      )
  }
}

function unreachableError(pools: readonly string[], failedVms: number): RunError {
  const vms = failedVms > 0 ? `; ${failedVms} VM${failedVms > 1 ? 's' : ''} failed too` : ''
  const what = pools.length === 1 ? 'a pool' : `${pools.length} pools`
  return new RunError(
    'POOL_UNREACHABLE',
    `${what} could not be reached or logged into, its VMs were not backed up: ${pools.join('; ')}${vms}`,
  )
}

async function openTargets({ task, o, targets, state, stateDir }: RunScope): Promise<void> {
  for (const target of o.job.repositories) {
    const options = {
      expected: recordedRepository(state, target.location),
      passphraseShared: o.job.repositories.length > 1,
    }
    const open = (t: TaskContext) => o.deps.openRepository(target, t.signal, options)
    const repository = await task
      .child('open repository', open, { repository: target.name })
      .catch(() => undefined) // a failed task in the tree; the other repositories still serve
    if (repository === undefined) continue
    targets.push({ name: target.name, repository })
    if (recordRepository(state, target.location, repository.identity)) {
      // Not saved, the record is made again at the next run: a warning, not a failed repository.
      await writeJobState(stateDir, o.job.id, state).catch((error: unknown) =>
        task.warn(`job state not saved: ${errorMessage(error)}`),
      )
    }
  }
  if (targets.length === 0)
    throw new RunError('NO_REPOSITORY', `no repository of job '${o.job.name}' could be opened`)
}

async function backupAll(scope: RunScope, vms: SelectedVm[]): Promise<void> {
  const { task, o, schedule, runId, stateDir, state } = scope
  const fullInterval = schedule?.fullInterval ?? o.job.settings.fullInterval
  const concurrency = o.job.settings.vmConcurrency === 0 ? vms.length : o.job.settings.vmConcurrency
  const slots = new Semaphore(Math.max(1, concurrency))
  let saving = Promise.resolve()
  const one = async (vm: SelectedVm): Promise<void> => {
    const pool = scope.pools.find((p) => p.poolId === vm.poolId)!
    const context = {
      job: o.job,
      runId,
      schedule,
      targets: scope.targets,
      xapi: pool.xapi,
      limits: o.deps.limits(pool.uuid),
      backupVm: o.deps.backupVm,
      forceFull: (uuid: string) => o.job.settings.mode === 'delta' && fullDue(state, uuid, fullInterval),
      retryDelayMs: o.deps.retryDelayMs ?? 2000,
      resumeDir: join(runDirs(o.dataDir).resume, o.job.id),
      healthCheck: healthCheckFor(scope, vm),
    }
    const outcome = await runVm(task, context, vm)
    scope.outcomes.push(outcome)
    if (outcome.result === undefined) return
    recordRun(state, vm.uuid, runId, outcome.result.full)
    // Losing the state only brings the next forced full early: a warning, not a failed VM.
    saving = saving
      .then(() => writeJobState(stateDir, o.job.id, state))
      .catch((error: unknown) => task.warn(`job state not saved: ${errorMessage(error)}`))
    await saving
  }
  await Promise.all(vms.map((vm) => slots.run(() => one(vm))))
  // Reported in the selection's order, whichever VM finished first: reports and exit summaries stay stable.
  const order = new Map(vms.map((vm, i) => [vm.uuid, i]))
  scope.outcomes.sort((a, b) => (order.get(a.uuid) ?? Infinity) - (order.get(b.uuid) ?? Infinity))
}
