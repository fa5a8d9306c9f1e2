// A thin typed client of /api, typed by @strata/contract (the schemas the server validates with). Every
// failure is an ApiError with the server's stable code, so views show the server's message and react to
// codes (401 sends the user to the login page).
import type {
  Agent,
  NewAgent,
  ApiErrorBody,
  ApiToken,
  DifferentialCheck,
  DifferentialQuery,
  DirectoryView,
  FileSearchView,
  FilesystemsView,
  Coverage,
  Job,
  JobInput,
  JobPatch,
  NewApiToken,
  NotificationSettings,
  NotificationSettingsPatch,
  NotificationTestInput,
  Overview,
  Pool,
  PoolInput,
  PoolPatch,
  PoolObject,
  PoolObjectType,
  PointProtection,
  PreviewVm,
  Repository,
  RepositoryInput,
  RepositoryPatch,
  RepositoryVm,
  RestoreInput,
  RestorePoint,
  Role,
  RunStat,
  RunSummary,
  Settings,
  SettingsPatch,
  Task,
  UsageHistory,
  UsageSeries,
  User,
  VmSelection,
  Webhook,
  WebhookInput,
  WebhookPatch,
  XoImportInput,
  XoPoint,
  XoRemote,
  XoRemoteInput,
  XoRestoreInput,
  XoVm,
} from '@strata/contract'

/** A replica or restore point a replication job keeps (GET /api/jobs/:id/replicas). */
export interface Replica {
  uuid: string
  name: string
  kind: 'replica' | 'point'
  pool: string
  sourceVmUuid: string
  sourceVmName?: string
  time: string
  powerState: string
  mode?: 'delta' | 'full'
  memory: boolean
  pending: boolean
  failedOver?: string
}

export interface FailoverResult {
  vmUuid: string
  vmName: string
  from: string
  cloned: boolean
  resumed: boolean
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message)
    this.name = 'ApiError'
  }
}

type Listener = (error: ApiError) => void
const unauthenticatedListeners = new Set<Listener>()

/** Called on every 401 outside the login call: the session is gone. */
export function onUnauthenticated(listener: Listener): () => void {
  unauthenticatedListeners.add(listener)
  return () => unauthenticatedListeners.delete(listener)
}

/**
 * Sent with every call: the server refuses changes made with the session cookie without it, which a
 * cross-site form or image cannot send (a cross-site script would need a CORS preflight it never gets).
 */
export const CSRF_HEADER = { 'x-strata-request': '1' } as const

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = {
    method,
    credentials: 'same-origin',
    headers: { accept: 'application/json', ...CSRF_HEADER },
  }
  if (body !== undefined) {
    init.body = JSON.stringify(body)
    init.headers = { ...init.headers, 'content-type': 'application/json' }
  }
  let response: Response
  try {
    response = await fetch(`/api${path}`, init)
  } catch (cause) {
    throw new ApiError(0, 'NETWORK', `The server cannot be reached (${String(cause)})`)
  }
  if (response.ok) {
    if (response.status === 204) return undefined as T
    const text = await response.text()
    return (text === '' ? undefined : JSON.parse(text)) as T
  }
  const error = await toApiError(response)
  if (error.status === 401 && path !== '/auth/login') unauthenticatedListeners.forEach((l) => l(error))
  throw error
}

async function toApiError(response: Response): Promise<ApiError> {
  const fallback = `${response.status} ${response.statusText}`.trim()
  try {
    const body = (await response.json()) as Partial<ApiErrorBody>
    const { code, message, details } = body.error ?? { code: 'HTTP_' + response.status }
    return new ApiError(response.status, code, message ?? fallback, details)
  } catch {
    return new ApiError(response.status, 'HTTP_' + response.status, fallback)
  }
}

/** A plain-text answer (a run's report). */
async function getText(path: string): Promise<string> {
  let response: Response
  try {
    response = await fetch(`/api${path}`, { credentials: 'same-origin', headers: { ...CSRF_HEADER } })
  } catch (cause) {
    throw new ApiError(0, 'NETWORK', `The server cannot be reached (${String(cause)})`)
  }
  if (response.ok) return response.text()
  const error = await toApiError(response)
  if (error.status === 401) unauthenticatedListeners.forEach((l) => l(error))
  throw error
}

const get = <T>(path: string) => request<T>('GET', path)
const post = <T>(path: string, body?: unknown) => request<T>('POST', path, body ?? {})
const patch = <T>(path: string, body: unknown) => request<T>('PATCH', path, body)
const del = (path: string, body?: unknown) => request<void>('DELETE', path, body)
const q = (params: Record<string, string | number | undefined>) => {
  const search = new URLSearchParams()
  for (const [key, value] of Object.entries(params))
    if (value !== undefined && value !== '') search.set(key, String(value))
  const text = search.toString()
  return text === '' ? '' : `?${text}`
}
const id = encodeURIComponent

/** One disk of a restore point, as the file routes name it. */
export interface PointDisk {
  readonly repositoryId: string
  readonly pointId: string
  readonly disk: number
}
const diskPath = (d: PointDisk) =>
  `/repositories/${id(d.repositoryId)}/points/${id(d.pointId)}/disks/${d.disk}`

/** A plain link the browser downloads to disk as it comes (no copy in the page's memory). */
export function filesDownloadUrl(
  d: PointDisk,
  fs: string | undefined,
  paths: readonly string[],
  format?: 'zip' | 'tar' | 'tar.gz',
): string {
  const search = new URLSearchParams()
  if (fs !== undefined) search.set('fs', fs)
  for (const path of paths) search.append('path', path)
  if (format !== undefined) search.set('format', format)
  return `/api${diskPath(d)}/files/download?${search.toString()}`
}

export const api = {
  login: (username: string, password: string, totp?: string) =>
    post<{ user: User }>('/auth/login', { username, password, ...(totp ? { totp } : {}) }),
  logout: () => post<void>('/auth/logout'),
  me: () => get<User>('/me'),
  changePassword: (current: string, password: string) => post<void>('/me/password', { current, password }),
  enrollTotp: () => post<{ uri: string; secret: string }>('/me/totp'),
  confirmTotp: (code: string) => post<void>('/me/totp/confirm', { code }),
  disableTotp: (code: string) => del('/me/totp', { code }),
  tokens: () => get<ApiToken[]>('/me/tokens'),
  createToken: (name: string, expiresInDays: number) =>
    post<NewApiToken>('/me/tokens', { name, expiresInDays }),
  deleteToken: (tokenId: string) => del(`/me/tokens/${id(tokenId)}`),

  pools: () => get<Pool[]>('/pools'),
  createPool: (input: PoolInput) => post<Pool>('/pools', input),
  updatePool: (poolId: string, input: PoolPatch) => patch<Pool>(`/pools/${id(poolId)}`, input),
  deletePool: (poolId: string) => del(`/pools/${id(poolId)}`),
  poolObjects: (poolId: string, type: PoolObjectType) =>
    get<PoolObject[]>(`/pools/${id(poolId)}/objects${q({ type })}`),

  repositories: () => get<Repository[]>('/repositories'),
  createRepository: (input: RepositoryInput) => post<Repository>('/repositories', input),
  updateRepository: (repoId: string, input: RepositoryPatch) =>
    patch<Repository>(`/repositories/${id(repoId)}`, input),
  deleteRepository: (repoId: string) => del(`/repositories/${id(repoId)}`),
  repositoryVms: (repoId: string) => get<RepositoryVm[]>(`/repositories/${id(repoId)}/vms`),
  points: (repoId: string, vm?: string) =>
    get<RestorePoint[]>(`/repositories/${id(repoId)}/points${q({ vm })}`),
  deletePoint: (repoId: string, pointId: string) => del(`/repositories/${id(repoId)}/points/${id(pointId)}`),
  acknowledgeRollback: (repoId: string) => post<void>(`/repositories/${id(repoId)}/rollback/acknowledge`),
  protectPoint: (repoId: string, pointId: string, on: boolean) =>
    request<PointProtection>(
      on ? 'POST' : 'DELETE',
      `/repositories/${id(repoId)}/points/${id(pointId)}/protection`,
    ),
  coverage: () => get<Coverage>('/coverage'),
  diskUrl: (repoId: string, pointId: string, disk: number) =>
    `/api/repositories/${id(repoId)}/points/${id(pointId)}/disks/${disk}.vhd`,
  filesystems: (d: PointDisk) => get<FilesystemsView>(`${diskPath(d)}/filesystems`),
  files: (d: PointDisk, query: { fs?: string; path: string; offset?: number; limit?: number }) =>
    get<DirectoryView>(`${diskPath(d)}/files${q(query)}`),
  searchFiles: (d: PointDisk, query: { fs?: string; under?: string; q: string }) =>
    get<FileSearchView>(`${diskPath(d)}/files/search${q(query)}`),
  closeFiles: (d: PointDisk) => del(`${diskPath(d)}/files`),

  jobs: () => get<Job[]>('/jobs'),
  job: (jobId: string) => get<Job>(`/jobs/${id(jobId)}`),
  createJob: (input: JobInput) => post<Job>('/jobs', input),
  updateJob: (jobId: string, input: JobPatch) => patch<Job>(`/jobs/${id(jobId)}`, input),
  deleteJob: (jobId: string) => del(`/jobs/${id(jobId)}`),
  previewVms: (vms: VmSelection) => post<PreviewVm[]>('/jobs/preview', { vms }),
  jobReplicas: (jobId: string) => get<Replica[]>(`/jobs/${id(jobId)}/replicas`),
  failover: (input: { pool: string; replica: string; clone?: boolean }) =>
    post<FailoverResult>('/replicas/failover', input),
  runJob: (jobId: string, scheduleId?: string) =>
    post<{ runId: string }>(`/jobs/${id(jobId)}/run`, scheduleId ? { scheduleId } : {}),

  runs: (filter: { job?: string; state?: string; since?: string; limit?: number } = {}) =>
    get<RunSummary[]>(`/runs${q(filter)}`),
  run: (runId: string) => get<Task>(`/runs/${id(runId)}`),
  runReport: (runId: string) => getText(`/runs/${id(runId)}/report`),
  restore: (input: RestoreInput) => post<{ runId: string }>('/restores', input),
  /** Whether the point can be restored onto its own VM, rewriting only what differs. */
  differentialCheck: (query: DifferentialQuery) =>
    get<DifferentialCheck>(`/restores/differential${q(query)}`),

  agents: () => get<Agent[]>('/agents'),
  createAgent: (name: string) => post<NewAgent>('/agents', { name }),
  deleteAgent: (agentId: string) => del(`/agents/${id(agentId)}`),
  assignRepository: (repoId: string, agentId: string | null) =>
    request<{ repositoryId: string; agentId: string | null }>('PUT', `/repositories/${id(repoId)}/agent`, {
      agentId,
    }),
  assignPool: (poolId: string, agentId: string | null) =>
    request<{ poolId: string; agentId: string | null }>('PUT', `/pools/${id(poolId)}/agent`, { agentId }),

  users: () => get<User[]>('/users'),
  createUser: (username: string, password: string, role: Role) =>
    post<User>('/users', { username, password, role }),
  updateUser: (userId: string, input: { password?: string; role?: Role }) =>
    patch<User>(`/users/${id(userId)}`, input),
  deleteUser: (userId: string) => del(`/users/${id(userId)}`),

  settings: () => get<Settings>('/settings'),
  updateSettings: (input: SettingsPatch) => patch<Settings>('/settings', input),
  overview: () => get<Overview>('/overview'),

  notifications: () => get<NotificationSettings>('/settings/notifications'),
  updateNotifications: (input: NotificationSettingsPatch) =>
    patch<NotificationSettings>('/settings/notifications', input),
  createWebhook: (input: WebhookInput) => post<Webhook>('/settings/notifications/webhooks', input),
  updateWebhook: (hookId: string, input: WebhookPatch) =>
    patch<Webhook>(`/settings/notifications/webhooks/${id(hookId)}`, input),
  deleteWebhook: (hookId: string) => del(`/settings/notifications/webhooks/${id(hookId)}`),
  testNotification: (input: NotificationTestInput) =>
    post<{ ok: true }>('/settings/notifications/test', input),

  xoRemotes: () => get<XoRemote[]>('/xo-remotes'),
  createXoRemote: (input: XoRemoteInput) => post<XoRemote>('/xo-remotes', input),
  deleteXoRemote: (remoteId: string) => del(`/xo-remotes/${id(remoteId)}`),
  xoVms: (remoteId: string) => get<XoVm[]>(`/xo-remotes/${id(remoteId)}/vms`),
  xoPoints: (remoteId: string, vm?: string) =>
    get<XoPoint[]>(`/xo-remotes/${id(remoteId)}/points${q({ vm })}`),
  /** A point id is '<vm uuid>/<date>': its two parts are two path segments. */
  xoDiskUrl: (remoteId: string, pointId: string, disk: number, format: 'raw' | 'vhd') =>
    `/api/xo-remotes/${id(remoteId)}/points/${pointId.split('/').map(id).join('/')}/disks/${disk}.${format}`,
  xoRestore: (remoteId: string, input: XoRestoreInput) =>
    post<{ runId: string }>(`/xo-remotes/${id(remoteId)}/restores`, input),
  xoImport: (remoteId: string, input: XoImportInput) =>
    post<{ runId: string }>(`/xo-remotes/${id(remoteId)}/import`, input),
  cancelXoImport: (remoteId: string) => del(`/xo-remotes/${id(remoteId)}/import`),

  runStats: (filter: { days?: number; job?: string } = {}) => get<RunStat[]>(`/stats/runs${q(filter)}`),
  usage: (filter: { days?: number; repository?: string } = {}) =>
    get<UsageSeries[]>(`/stats/usage${q(filter)}`),
  usageHistory: (repoId: string, days?: number) =>
    get<UsageHistory>(`/repositories/${id(repoId)}/usage-history${q({ days })}`),
}
