// A thin typed client of /api, typed by @strata/contract (the schemas the server validates with). Every
// failure is an ApiError with the server's stable code, so views show the server's message and react to
// codes (401 sends the user to the login page).
import type {
  ApiErrorBody,
  ApiToken,
  Job,
  JobInput,
  JobPatch,
  NewApiToken,
  Overview,
  Pool,
  PoolInput,
  PoolPatch,
  PoolObject,
  PoolObjectType,
  PreviewVm,
  Repository,
  RepositoryInput,
  RepositoryPatch,
  RepositoryVm,
  RestoreInput,
  RestorePoint,
  Role,
  RunSummary,
  Settings,
  SettingsPatch,
  Task,
  User,
  VmSelection,
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
  points: (repoId: string, vm: string) =>
    get<RestorePoint[]>(`/repositories/${id(repoId)}/points${q({ vm })}`),
  diskUrl: (repoId: string, pointId: string, disk: number) =>
    `/api/repositories/${id(repoId)}/points/${id(pointId)}/disks/${disk}.vhd`,

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

  runs: (filter: { jobId?: string; status?: string; limit?: number } = {}) =>
    get<RunSummary[]>(`/runs${q(filter)}`),
  run: (runId: string) => get<Task>(`/runs/${id(runId)}`),
  restore: (input: RestoreInput) => post<{ runId: string }>('/restores', input),

  users: () => get<User[]>('/users'),
  createUser: (username: string, password: string, role: Role) =>
    post<User>('/users', { username, password, role }),
  updateUser: (userId: string, input: { password?: string; role?: Role }) =>
    patch<User>(`/users/${id(userId)}`, input),
  deleteUser: (userId: string) => del(`/users/${id(userId)}`),

  settings: () => get<Settings>('/settings'),
  updateSettings: (input: SettingsPatch) => patch<Settings>('/settings', input),
  overview: () => get<Overview>('/overview'),
}
