// The route table: each route module bound to the few services it needs (routes/*.ts name them in their
// types), never the whole set.
import { agentRoutes } from './agents/agent-routes.js'
import type { RouteModule } from './app.js'
import { nasMountDir } from './repositories/nas-mounts.js'
import { accountRoutes } from './routes/account-routes.js'
import { authRoutes } from './routes/auth-routes.js'
import { fileRoutes } from './routes/file-routes.js'
import { AgentFiles } from './agents/agent-files.js'
import { jobRoutes } from './routes/job-routes.js'
import { maintenanceRoutes } from './routes/maintenance-routes.js'
import { metadataRoutes } from './routes/metadata-routes.js'
import { metricsRoutes } from './routes/metrics-routes.js'
import { notificationRoutes } from './routes/notification-routes.js'
import { poolRoutes } from './routes/pool-routes.js'
import { replicationRoutes } from './routes/replication-routes.js'
import { repositoryRoutes } from './routes/repository-routes.js'
import { restoreRoutes } from './routes/restore-routes.js'
import { runRoutes } from './routes/run-routes.js'
import { settingsRoutes } from './routes/settings-routes.js'
import { statsRoutes } from './routes/stats-routes.js'
import { usageHistoryRoutes } from './routes/usage-history-routes.js'
import { userRoutes } from './routes/user-routes.js'
import { xoRemoteRoutes } from './routes/xo-remote-routes.js'
import type { ServerServices } from './server-services.js'

/** Each route module bound to the services it needs, and to nothing else. */
export function routes(s: ServerServices): RouteModule[] {
  const { users, box, tokens, loginLimits, streams, log, credentials, closing } = s
  const { pools, connections, repositories, repositoryService, jobs, runs, restores } = s
  const { events, scheduler, settings, maintenance, maintenanceStore, reporting } = s
  return [
    (app) => authRoutes(app, { users, box, loginLimits, streams, log }),
    (app) => accountRoutes(app, { users, box, tokens, streams, log }),
    (app) => userRoutes(app, { users, streams }),
    (app) => poolRoutes(app, { pools, connections, jobs, runs, settings, log, closing }),
    (app) =>
      repositoryRoutes(app, {
        repositories,
        repositoryService,
        jobs,
        log,
        mountDir: nasMountDir(s.config.dataDir),
        agentRepositories: s.agentRepositories,
      }),
    (app) =>
      jobRoutes(app, {
        ...{ jobs, runs, scheduler, pools, connections, repositories, settings, log },
        cluster: s.coordinator,
      }),
    (app) =>
      runRoutes(app, {
        runs,
        bus: events,
        streams,
        credentials,
        closing,
        unreachable: (runId) => s.agentHub.unreachable(runId),
      }),
    (app) => replicationRoutes(app, { jobs, pools, connections, log, closing }),
    (app) =>
      restoreRoutes(app, {
        restores,
        repositories,
        repositoryService,
        log,
        closing,
        agentDownloads: s.agentDownloads,
      }),
    (app) =>
      fileRoutes(app, {
        repositories,
        files: s.files,
        log,
        closing,
        agentFiles: new AgentFiles(s.agentRepositories, s.agentDownloads, repositories, closing),
      }),
    (app) => maintenanceRoutes(app, { repositories, maintenance, maintenanceStore }),
    (app) => metadataRoutes(app, { repositories, repositoryService }),
    (app) =>
      settingsRoutes(app, {
        settings,
        connections,
        runs,
        jobs,
        scheduler,
        repositories,
        repositoryService,
        log,
      }),
    (app) => notificationRoutes(app, { notifications: reporting.notifications, daily: reporting.daily, log }),
    (app) => statsRoutes(app, { stats: reporting.stats, usage: reporting.usage, repositories }),
    (app) => metricsRoutes(app, { metrics: reporting.metrics }),
    (app) =>
      usageHistoryRoutes(app, { repositories, repositoryService, usage: reporting.usage, runs, closing }),
    (app) =>
      xoRemoteRoutes(app, {
        xoRemotes: s.xo.remotes,
        xoDownloads: s.xo.downloads,
        xoImports: s.xo.imports,
        xoRestores: s.xo.restores,
        log,
      }),
    (app) =>
      agentRoutes(app, {
        agents: s.agents,
        hub: s.agentHub,
        downloads: s.agentDownloads,
        pools,
        connections,
        fingerprint: s.tlsFingerprint,
        log,
        repositories,
        repositoryService,
        access: s.agentRepositories,
      }),
  ]
}
