// A backup job: which VMs (an explicit list or smart rules), which repositories, how (settings) and when
// (schedules, each with its own retention and optional forced full). What a job file may hold, its
// defaults and its validation are @strata/contract's (the same for the CLI, the server and the UI);
// this file turns a checked job file into the engine's resolved form.
import {
  HEALTH_CHECK_TIMEOUT,
  checkJobFile,
  durationMs,
  formatProblem,
  withDefaults,
  type ChangedBlocks,
  type FileSchedule,
  type HealthCheck,
  type JobFile,
  type JobKind,
  type Mode,
  type PowerState,
  type Problem,
} from '@strata/contract'
import { StrataError, errorMessage } from '../shared/index.js'
import type { RetentionPolicy } from '../retention/index.js'
import { parseFingerprint } from '../xapi/index.js'

/** A job that cannot be used, with every problem found (each with its JSON path). */
export class JobError extends StrataError {
  readonly problems: readonly Problem[]

  constructor(message: string, options: { cause?: unknown; source?: string; problems?: Problem[] } = {}) {
    const { cause, source, problems = [] } = options
    super('INVALID_JOB', message, {
      cause,
      details: problems.length === 0 ? {} : { ...(source === undefined ? {} : { source }), problems },
    })
    this.problems = problems
  }
}

export interface PoolConnection {
  readonly id: string
  /** What people call the pool (messages, logs); the id when absent. */
  readonly name?: string
  readonly url: string
  readonly user: string
  /** Discouraged in files: STRATA_XAPI_PASSWORD is used when absent. */
  readonly password?: string
  /**
   * SHA-256 fingerprint of the certificate of the host `url` names (needed for https://), in canonical
   * form (upper-case hex pairs joined by ':').
   */
  readonly fingerprint?: string
  /** Allows an http:// url: passwords and session ids in clear text. */
  readonly insecureHttp?: boolean
}

export interface RepositoryTarget {
  readonly name: string
  /** A path or an s3://… URL (see docs/storage.md); STRATA_PASSPHRASE opens an encrypted one. */
  readonly location: string
}

export type VmSelection =
  | { readonly kind: 'explicit'; readonly vms: readonly string[] }
  | {
      readonly kind: 'smart'
      /** Pool ids (as in `pools`); empty = every pool of the job. */
      readonly pools: readonly string[]
      /** A VM matches when it has at least one of these tags; empty = any VM. */
      readonly tags: readonly string[]
      readonly powerState?: PowerState
      readonly excludeVms: readonly string[]
      readonly excludeTags: readonly string[]
      /** Also VMs a restore created (tagged `restoredTag`); default false. */
      readonly includeRestored?: boolean
      /** The tag restores give (default 'restored from backup'; the server sets its own setting). */
      readonly restoredTag?: string
    }

/** An SR of one of the job's pools that a replication job copies its VMs to. */
export interface ReplicationTarget {
  /** A pool id of the job. */
  readonly pool: string
  readonly sr: string
  /** Source network uuid → target network uuid. */
  readonly networks?: Readonly<Record<string, string>>
}

/** What a schedule's health check does (contract's HealthCheck, resolved). */
export interface HealthCheckPolicy {
  /** SR (uuid or name) a backup's point is restored to; replication checks a clone of the replica. */
  readonly sr?: string
  /** A pool id of the job; default: the VM's pool. */
  readonly pool?: string
  /** Only VMs with one of these tags; empty: every VM. */
  readonly tags: readonly string[]
  readonly timeoutMs: number
  /** Also wait for the guest's check script (vm-data/xo-backup-health-check). */
  readonly guestCheck: boolean
}

export interface JobSettings {
  readonly mode: Mode
  /** A full backup every N runs of a VM (0 = never forced). */
  readonly fullInterval: number
  readonly offline: boolean
  readonly withMemory: boolean
  readonly preferNbd: boolean
  readonly nbdConnections: number
  /** Per VM; undefined = no limit. */
  readonly maxBytesPerSecond?: number
  /** VMs backed up at once (0 = all). */
  readonly vmConcurrency: number
  /** A run still going after this is aborted (0 = no limit). */
  readonly timeoutMs: number
  /** Further attempts for a VM whose backup failed. */
  readonly retries: number
  readonly changedBlocks: ChangedBlocks
}

export interface Schedule {
  readonly id: string
  readonly name?: string
  /** For the scheduler (server); the CLI runs a schedule on demand. */
  readonly cron?: string
  readonly timezone: string
  /** Restore points kept per VM for this schedule; none = keep all. */
  readonly retention?: RetentionPolicy
  readonly snapshotRetention: number
  /** Overrides the job's fullInterval for runs of this schedule. */
  readonly fullInterval?: number
  readonly healthCheck?: HealthCheckPolicy
}

export interface Job {
  readonly id: string
  readonly name: string
  /** What its runs make: restore points in repositories, or replicas on SRs. */
  readonly kind: JobKind
  readonly pools: readonly PoolConnection[]
  readonly vms: VmSelection
  /** A backup job's (none for replication). */
  readonly repositories: readonly RepositoryTarget[]
  /** A replication job's (none for backups). */
  readonly targets: readonly ReplicationTarget[]
  /** A mirror job's target repositories (its source is its one repository); none for other kinds. */
  readonly mirrorTo: readonly RepositoryTarget[]
  readonly settings: JobSettings
  readonly schedules: readonly Schedule[]
}

/** The tag that keeps a VM out of every smart selection (the part before '=' counts: 'strata:no-bak=why'). */
export const NO_BACKUP_TAG = 'strata:no-bak'

export interface ParseJobOptions {
  /** Told of each old spelling accepted (renamed; see docs/jobs.md). */
  readonly onWarning?: (warning: Problem) => void
}

/**
 * Checks a job (as read from a file, or made by the server) and resolves its defaults. `source` names
 * the file (or the job) in messages, apart from the paths inside it.
 */
export function parseJob(value: unknown, source = 'job', options: ParseJobOptions = {}): Job {
  const checked = checkJobFile(value)
  for (const warning of checked.warnings) options.onWarning?.(warning)
  if (!checked.ok) throw unusable(source, checked.problems)
  const pools = resolvePools(checked.value.pools)
  if (pools.problems.length > 0) throw unusable(source, pools.problems)
  return resolve(checked.value, pools.resolved)
}

function unusable(source: string, problems: Problem[]): JobError {
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`
  const lines = problems.map((p) => `  ${formatProblem(p)}`)
  return new JobError(`${source} cannot be used (${count}):\n${lines.join('\n')}`, { source, problems })
}

/**
 * The pools with their defaults and each fingerprint in the canonical form the TLS check compares (the
 * contract's pattern accepts the forms people paste; parseFingerprint has the last word).
 */
function resolvePools(pools: JobFile['pools']): { resolved: PoolConnection[]; problems: Problem[] } {
  const problems: Problem[] = []
  const resolved = pools.map((p, i) => {
    const pool = { ...p, user: p.user ?? 'root' }
    if (p.fingerprint === undefined) return pool
    try {
      return { ...pool, fingerprint: parseFingerprint(p.fingerprint) }
    } catch (cause) {
      problems.push({ path: `pools[${i}].fingerprint`, message: errorMessage(cause) })
      return pool
    }
  })
  return { resolved, problems }
}

function resolve(file: JobFile, pools: PoolConnection[]): Job {
  const s = withDefaults(file.settings)
  return {
    id: file.id,
    name: file.name ?? file.id,
    kind: file.kind ?? 'backup',
    pools,
    vms: Array.isArray(file.vms)
      ? { kind: 'explicit', vms: file.vms }
      : {
          kind: 'smart',
          pools: file.vms.pools ?? [],
          tags: file.vms.tags ?? [],
          ...(file.vms.powerState === undefined ? {} : { powerState: file.vms.powerState }),
          excludeVms: file.vms.excludeVms ?? [],
          excludeTags: file.vms.excludeTags ?? [],
          ...(file.vms.includeRestored === undefined ? {} : { includeRestored: file.vms.includeRestored }),
          ...(file.vms.restoredTag === undefined ? {} : { restoredTag: file.vms.restoredTag }),
        },
    repositories: file.repositories ?? [],
    targets: (file.targets ?? []).map((t) => ({ ...t })),
    mirrorTo: file.mirrorTo ?? [],
    settings: {
      mode: s.mode,
      fullInterval: s.fullInterval,
      offline: s.offline,
      withMemory: s.withMemory,
      preferNbd: s.preferNbd,
      nbdConnections: s.nbdConnections,
      maxBytesPerSecond: s.maxBytesPerSecond > 0 ? s.maxBytesPerSecond : undefined,
      vmConcurrency: s.vmConcurrency,
      timeoutMs: durationMs(s.timeout) ?? 0,
      retries: s.retries,
      changedBlocks: s.changedBlocks,
    },
    schedules: (file.schedules ?? []).map(resolveSchedule),
  }
}

function resolveSchedule(s: FileSchedule): Schedule {
  return {
    id: s.id,
    ...(s.name === undefined ? {} : { name: s.name }),
    ...(s.cron === undefined ? {} : { cron: s.cron }),
    timezone: s.timezone ?? 'UTC',
    ...(s.retention === undefined ? {} : { retention: s.retention }),
    snapshotRetention: s.snapshotRetention ?? 1,
    ...(s.fullInterval === undefined ? {} : { fullInterval: s.fullInterval }),
    ...(s.healthCheck === undefined ? {} : { healthCheck: resolveHealthCheck(s.healthCheck) }),
  }
}

function resolveHealthCheck(h: HealthCheck): HealthCheckPolicy {
  return {
    ...(h.sr === undefined ? {} : { sr: h.sr }),
    ...(h.pool === undefined ? {} : { pool: h.pool }),
    tags: h.tags ?? [],
    timeoutMs: durationMs(h.timeout ?? HEALTH_CHECK_TIMEOUT) ?? 600_000,
    guestCheck: h.guestCheck === true,
  }
}

/** 90 (seconds), '90s', '30m', '2h', '1d' → milliseconds. */
export function parseDuration(value: unknown, what: string): number {
  const ms = durationMs(value)
  if (ms === undefined)
    throw new JobError(`${what}: '${String(value)}' is not a duration (e.g. 90, '30m', '2h')`)
  return ms
}
