// The shapes of Strata's HTTP API as docs/api.md describes them. The UI imports nothing from the server
// or the domain library: this file is the whole contract it relies on. Times are ms since the epoch.

export type Role = 'admin' | 'operator' | 'read-only'

export interface User {
  id: string
  username: string
  role: Role
  totp?: boolean
}

export interface ApiErrorBody {
  error: { code: string; message?: string; details?: unknown }
}

export interface SeenCertificate {
  /** SHA-256, upper-case hex pairs joined by ':'. */
  fingerprint: string
  subject: string
  validFrom: string
  validTo: string
}

/** A certificate the server refused: the pinned fingerprint (none on a first contact) and the one seen. */
export interface CertificateProblem {
  host: string
  expected?: string
  seen?: SeenCertificate
  /** The command that prints the host's fingerprint, on the host. */
  check: string
}

export interface Pool {
  id: string
  name: string
  url: string
  username: string
  /** The accepted certificate fingerprint of the URL's host. */
  fingerprint?: string
  /** Plain HTTP allowed (passwords and sessions in clear text). */
  insecureHttp: boolean
  connected: boolean
  error?: string
  errorCode?: string
  certificate?: CertificateProblem
}

export interface PoolInput {
  name: string
  url: string
  username?: string
  password?: string
  fingerprint?: string
  insecureHttp?: boolean
}

export type PoolObjectType = 'VM' | 'SR' | 'network'

export interface PoolObject {
  uuid: string
  name_label: string
  power_state?: string
  tags?: string[]
  is_default?: boolean
  [key: string]: unknown
}

export interface RepositoryUsage {
  bytes: number
  chunks: number
}

export interface Repository {
  id: string
  name: string
  location: string
  encrypted: boolean
  usage?: RepositoryUsage
}

export interface RepositoryInput {
  name: string
  location: string
  passphrase?: string
  s3?: { accessKeyId: string; secretAccessKey: string }
  init?: boolean
}

export interface RepositoryVm {
  vmUuid: string
  name: string
  points: number
}

export interface PointDisk {
  name: string
  /** Virtual size in bytes. */
  size: number
}

export interface RestorePoint {
  id: string
  time: number
  vmName: string
  vmUuid?: string
  disks: PointDisk[]
  size: number
  jobId?: string
  scheduleId?: string
}

export type PowerState = 'Running' | 'Halted'

export interface SmartSelection {
  pools: string[]
  tags: string[]
  powerState?: PowerState
  excludeTags: string[]
  excludeUuids: string[]
}

export type VmSelection = { uuids: string[] } | { smart: SmartSelection }

export interface Retention {
  keep: number
  daily: number
  weekly: number
  monthly: number
  yearly: number
}

export interface Schedule {
  id?: string
  name?: string
  cron: string
  timezone: string
  enabled: boolean
  retention: Retention
  forceFull: boolean
}

export interface JobSettings {
  fullInterval?: number
  vmConcurrency?: number
  retries?: number
  timeout?: string | number
  preferNbd?: boolean
  nbdConnections?: number
  maxBytesPerSecond?: number
  offline?: boolean
  withMemory?: boolean
  compression?: string
  [key: string]: unknown
}

export type JobMode = 'delta' | 'full'

export interface JobInput {
  name: string
  enabled: boolean
  mode: JobMode
  vms: VmSelection
  repositories: string[]
  settings: JobSettings
  schedules: Schedule[]
}

export interface Job extends JobInput {
  id: string
  running?: boolean
  nextRun?: number
}

export interface PreviewVm {
  poolId: string
  uuid: string
  name: string
  powerState?: string
  tags?: string[]
}

export type TaskStatus = 'pending' | 'success' | 'failure' | 'interrupted' | 'skipped'

export interface TaskError {
  code: string
  message: string
}

export interface RunSummary {
  runId: string
  jobId?: string
  jobName?: string
  kind?: 'backup' | 'restore'
  status: TaskStatus
  start: number
  end?: number
  warnings: number
  error?: TaskError | string
}

export interface TaskMessage {
  message: string
  time: number
  data?: Record<string, unknown>
}

export interface Task {
  id: string
  name: string
  status: TaskStatus
  start: number
  end?: number
  progress?: { done: number; total?: number }
  /** Milliseconds left. */
  eta?: number
  /** Bytes per second. */
  speed?: number
  data: Record<string, unknown>
  warnings: TaskMessage[]
  infos?: TaskMessage[]
  error?: TaskError
  children: Task[]
}

/** One engine task event, as `event: task` of /api/events carries it. */
export type TaskEvent =
  | {
      type: 'start'
      id: string
      time: number
      parentId?: string
      name: string
      data?: Record<string, unknown>
    }
  | { type: 'end'; id: string; time: number; status: TaskStatus; error?: TaskError }
  | { type: 'info' | 'warning'; id: string; time: number; message: string; data?: Record<string, unknown> }
  | { type: 'progress'; id: string; time: number; done: number; total?: number }
  | { type: 'set'; id: string; time: number; data: Record<string, unknown> }

export interface TaskEventMessage {
  runId: string
  event: TaskEvent
}

export interface RestoreInput {
  repositoryId: string
  pointId: string
  kind: 'vm' | 'disk'
  poolId: string
  srUuid: string
  disk?: number
  start?: boolean
}

export interface ApiToken {
  id: string
  name: string
  created: number
  expires: number
  lastUsed?: number
  revoked?: number
}

export interface ClockCheck {
  offsetMs: number
  checked: number
  warning?: string
}

export interface Settings {
  syslog?: string
  clock?: ClockCheck
}

export interface NextRun {
  jobId: string
  jobName: string
  scheduleId: string
  at: number
}

export interface Overview {
  lastRuns: RunSummary[]
  nextRuns: NextRun[]
  repositories: { id: string; name: string; usage?: RepositoryUsage }[]
  failures: RunSummary[]
}
