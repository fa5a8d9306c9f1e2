// The composition root: configuration, database, secrets, services, HTTP. startServer is what the CLI
// (`strata server`) and the tests call; port 0 gives an ephemeral port.
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { allowManyListeners } from '@strata/core'
import { Credentials } from './auth/credentials.js'
import { LoginLimits } from './auth/login-limits.js'
import { PasswordHasher } from './auth/password-hasher.js'
import { ApiTokens } from './auth/tokens.js'
import { Users } from './auth/users.js'
import { buildApp } from './app.js'
import { loadConfig, type ConfigOverrides, type ServerConfig } from './config.js'
import type { AppContext } from './context.js'
import { openDatabase } from './db/database.js'
import { JobStore } from './jobs/job-store.js'
import { PoolConnections } from './pools/pool-connections.js'
import { PoolStore } from './pools/pool-store.js'
import { RepositoryService } from './repositories/repository-service.js'
import { RepositoryStore } from './repositories/repository-store.js'
import { jobRoutes } from './routes/job-routes.js'
import { poolRoutes } from './routes/pool-routes.js'
import { repositoryRoutes } from './routes/repository-routes.js'
import { restoreRoutes } from './routes/restore-routes.js'
import { runRoutes } from './routes/run-routes.js'
import { settingsRoutes } from './routes/settings-routes.js'
import { metricsRoutes } from './routes/metrics-routes.js'
import { notificationRoutes } from './routes/notification-routes.js'
import { statsRoutes } from './routes/stats-routes.js'
import { Reporting, type ReportingOptions } from './reporting.js'
import { EventStreams } from './runs/event-streams.js'
import { RunBus } from './runs/run-bus.js'
import { RunManager } from './runs/run-manager.js'
import { RunStore } from './runs/run-store.js'
import { Scheduler } from './scheduler/scheduler.js'
import { SecretBox } from './secret-box.js'
import { ServerLog } from './server-log.js'
import { Settings } from './settings.js'

export interface StartOptions extends ConfigOverrides {
  readonly env?: Record<string, string | undefined>
  /** Where the server's own log lines go (stderr by default). */
  readonly echo?: (line: string) => void
  /** Shorter waits for tests (webhook retries, usage samples after runs). */
  readonly reporting?: ReportingOptions
}

export interface RunningServer {
  readonly url: string
  readonly port: number
  readonly config: ServerConfig
  readonly app: FastifyInstance
  readonly context: AppContext
  /**
   * Set when this start created the first admin with a generated password. It is never logged (the
   * log may go to a file or syslog): the caller shows it once on the terminal (`strata server` does).
   */
  readonly generatedAdminPassword?: string
  close(): Promise<void>
}

export async function startServer(options: StartOptions = {}): Promise<RunningServer> {
  const config = loadConfig(options, options.env ?? process.env)
  const log = new ServerLog(options.echo)
  const box = new SecretBox(config.secretKey)
  const db = openDatabase(config.dataDir, box)
  const users = new Users(db, new PasswordHasher())
  const closing = new AbortController()
  allowManyListeners(closing.signal) // every restore, and every chunk of each, listens to it
  const context = services(config, db, box, users, log, closing.signal, options.reporting)
  // After the services: the settings' syslog forwarding is on, so the admin's creation reaches it.
  const generatedAdminPassword = await firstAdmin(users, config, log)
  for (const pool of context.pools.list())
    await context.connections.connect(pool, context.pools.password(pool.id))
  const app = await buildApp(context, [
    poolRoutes,
    repositoryRoutes,
    jobRoutes,
    runRoutes,
    restoreRoutes,
    settingsRoutes,
    notificationRoutes,
    statsRoutes,
    metricsRoutes,
  ])
  await app.listen({ port: config.port, host: config.host })
  context.scheduler.start()
  await context.reporting.start(config, log)
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : config.port
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`
  log.info(`listening on ${url}`)
  return {
    url,
    port,
    config,
    app,
    context,
    generatedAdminPassword,
    close: async () => {
      context.scheduler.stop()
      closing.abort()
      await context.runs.stopAll()
      await context.reporting.stop()
      await app.close()
      await context.connections.closeAll()
      context.settings.close()
      db.close()
    },
  }
}

/** The stores and services of one server. */
function services(
  config: ServerConfig,
  db: AppContext['db'],
  box: SecretBox,
  users: Users,
  log: ServerLog,
  closing: AbortSignal,
  reportingOptions?: ReportingOptions,
): AppContext {
  const tokens = new ApiTokens(db)
  const pools = new PoolStore(db, box)
  const repositories = new RepositoryStore(db, box)
  const jobs = new JobStore(db)
  const bus = new RunBus()
  const settings = new Settings(db, log)
  const runs = new RunManager({
    engineDir: join(config.dataDir, 'engine'),
    runs: new RunStore(db),
    bus,
    jobs,
    pools,
    repositories,
    log,
    restoredTag: () => settings.restoreTag(),
  })
  const scheduler = new Scheduler({
    db,
    jobs,
    log,
    start: (job, scheduleId) => runs.startJob(job, scheduleId),
  })
  const connections = new PoolConnections(log)
  const repositoryService = new RepositoryService(repositories, closing)
  const reporting = new Reporting(
    {
      db,
      box,
      log,
      bus,
      jobs,
      runs,
      pools,
      connections,
      repositories,
      repositoryService,
      scheduler,
      closing,
    },
    reportingOptions,
  )
  return {
    config,
    db,
    box,
    users,
    tokens,
    credentials: new Credentials(users, tokens),
    loginLimits: new LoginLimits(),
    streams: new EventStreams(),
    log,
    pools,
    connections,
    repositories,
    repositoryService,
    jobs,
    runs,
    bus,
    scheduler,
    settings,
    reporting,
    closing,
  }
}

/**
 * At the first start, an 'admin' user: STRATA_ADMIN_PASSWORD, or a generated password returned to the
 * caller to show once on the terminal, never written to the log (which may be a file or syslog).
 */
async function firstAdmin(users: Users, config: ServerConfig, log: ServerLog): Promise<string | undefined> {
  if (users.count() > 0) return undefined
  const generated = config.adminPassword === undefined ? randomBytes(12).toString('base64url') : undefined
  await users.create('admin', config.adminPassword ?? generated!, 'admin')
  if (generated !== undefined)
    log.info("created user 'admin' with a generated password, shown once on the terminal (change it)")
  else log.info("created user 'admin' with the password in STRATA_ADMIN_PASSWORD")
  return generated
}
