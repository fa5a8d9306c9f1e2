// What the routes are given: the stores and services of one server, built once in start-server.ts.
import type { Credentials } from './auth/credentials.js'
import type { LoginLimits } from './auth/login-limits.js'
import type { ApiTokens } from './auth/tokens.js'
import type { Users } from './auth/users.js'
import type { ServerConfig } from './config.js'
import type { Db } from './db/database.js'
import type { JobStore } from './jobs/job-store.js'
import type { PoolConnections } from './pools/pool-connections.js'
import type { PoolStore } from './pools/pool-store.js'
import type { RepositoryService } from './repositories/repository-service.js'
import type { RepositoryStore } from './repositories/repository-store.js'
import type { Reporting } from './reporting.js'
import type { RunBus } from './runs/run-bus.js'
import type { EventStreams } from './runs/event-streams.js'
import type { RunManager } from './runs/run-manager.js'
import type { Scheduler } from './scheduler/scheduler.js'
import type { SecretBox } from './secret-box.js'
import type { ServerLog } from './server-log.js'
import type { Settings } from './settings.js'

export interface AppContext {
  readonly config: ServerConfig
  readonly db: Db
  readonly box: SecretBox
  readonly users: Users
  readonly tokens: ApiTokens
  readonly credentials: Credentials
  readonly loginLimits: LoginLimits
  /** The open event streams, ended with what authenticated them. */
  readonly streams: EventStreams
  readonly log: ServerLog
  readonly pools: PoolStore
  readonly connections: PoolConnections
  readonly repositories: RepositoryStore
  readonly repositoryService: RepositoryService
  readonly jobs: JobStore
  readonly runs: RunManager
  readonly bus: RunBus
  readonly scheduler: Scheduler
  readonly settings: Settings
  /** Reports, notifications, statistics and metrics. */
  readonly reporting: Reporting
  /** Aborted when the server stops (long-lived responses end). */
  readonly closing: AbortSignal
}
