// The stores and services one server is made of (start-server.ts wires them): a type of its own so that
// the route table (server-routes.ts) and the composition root both name it without importing each other.
import type { AgentDownloads } from './agents/agent-downloads.js'
import type { AgentHub } from './agents/agent-hub.js'
import type { AgentRepositoryAccess } from './agents/agent-repository-access.js'
import type { AgentStore } from './agents/agent-store.js'
import type { Coordinator } from './cluster/coordinator.js'
import type { Credentials } from './auth/credentials.js'
import type { LoginLimits } from './auth/login-limits.js'
import type { ApiTokens } from './auth/tokens.js'
import type { Users } from './auth/users.js'
import type { ServerConfig } from './config.js'
import type { Db } from './db/database.js'
import type { FileSessions } from './files/file-sessions.js'
import type { JobStore } from './jobs/job-store.js'
import type { MaintenanceRunner } from './maintenance/maintenance-runner.js'
import type { MaintenanceStore } from './maintenance/maintenance-store.js'
import type { PoolConnections } from './pools/pool-connections.js'
import type { PoolStore } from './pools/pool-store.js'
import type { Reporting } from './reporting.js'
import type { RepositoryService } from './repositories/repository-service.js'
import type { RepositoryStore } from './repositories/repository-store.js'
import type { EventStreams } from './runs/event-streams.js'
import type { RestoreRunner } from './runs/restore-runner.js'
import type { RunBus } from './runs/run-bus.js'
import type { RunManager } from './runs/run-manager.js'
import type { Scheduler } from './scheduler/scheduler.js'
import type { SecretBox } from './secret-box.js'
import type { ServerLog } from './server-log.js'
import type { Settings } from './settings.js'
import type { XoDownloads } from './xo-remotes/xo-download.js'
import type { XoImportRunner } from './xo-remotes/xo-import-runner.js'
import type { XoRemoteService } from './xo-remotes/xo-remote-service.js'
import type { XoRestoreRunner } from './xo-remotes/xo-restore-runner.js'

/** The stores and services of one server: the composition root's wiring, handed out piecemeal. */
export interface ServerServices {
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
  readonly restores: RestoreRunner
  /** This instance's run events (its reporting, retention and statistics act on them). */
  readonly bus: RunBus
  /** What this instance's browsers see (GET /api/events): its run events and, in a cluster, the others'. */
  readonly events: RunBus
  /** How this instance shares the work with others (cluster/); one instance alone by default. */
  readonly coordinator: Coordinator
  readonly scheduler: Scheduler
  /** Repositories' gc, check and verify, run as runs on their schedules (maintenance/). */
  readonly maintenance: MaintenanceRunner
  readonly maintenanceStore: MaintenanceStore
  readonly settings: Settings
  /** File-level restore: one appliance per restore point disk being browsed. */
  readonly files: FileSessions
  /** Reports of runs (e-mail, webhooks), the daily summary, statistics and metrics. */
  readonly reporting: Reporting
  /** Aborted when the server stops (long-lived responses end, restores are cancelled). */
  readonly closing: AbortSignal
  readonly agents: AgentStore
  /** The agents' live links and the runs out on them. */
  readonly agentHub: AgentHub
  /** The repositories assigned to agents, reached through them. */
  readonly agentRepositories: AgentRepositoryAccess
  /** Downloads of points an agent holds, streamed from it. */
  readonly agentDownloads: AgentDownloads
  /** The server's certificate fingerprint (HTTPS), which agents pin. */
  readonly tlsFingerprint: string | undefined
  /** XO backup remotes, read-only sources: browsed, restored from, imported (xo-remotes/). */
  readonly xo: XoServices
}

export interface XoServices {
  readonly remotes: XoRemoteService
  readonly downloads: XoDownloads
  readonly imports: XoImportRunner
  readonly restores: XoRestoreRunner
}
