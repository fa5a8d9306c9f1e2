// The composition root: configuration, database, secrets, services, HTTP. Each route module is given the
// few services it needs (routes/*.ts name them in their types), never the whole set. startServer is what
// the CLI (`strata server`) and the tests call; port 0 gives an ephemeral port.
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { allowManyListeners, errorMessage } from '@strata/core'
import { runRestoreInWorker, type RestoreResult, type RestoreWorkerOptions } from '@strata/core/engine'
import { agentRestoreRunner } from './agents/agent-restores.js'
import { agentMaintenance } from './agents/agent-maintenance.js'
import { agentServices } from './agents/agent-services.js'
import { Credentials } from './auth/credentials.js'
import { LoginLimits } from './auth/login-limits.js'
import { PasswordHasher } from './auth/password-hasher.js'
import { ApiTokens } from './auth/tokens.js'
import { Users } from './auth/users.js'
import { buildApp } from './app.js'
import { nasMountDir } from './repositories/nas-mounts.js'
import { routes } from './server-routes.js'
import type { ServerServices, XoServices } from './server-services.js'
import { loadConfig, readServerConfig, type ConfigOverrides, type ServerConfig } from './config.js'
import { openDatabase, type Db } from './db/database.js'
import { describeDatabaseUrl } from './db/db-errors.js'
import { jobRepositories } from './jobs/job-model.js'
import { JobStore } from './jobs/job-store.js'
import { PoolConnections } from './pools/pool-connections.js'
import { serverId, sweepOwnChecks } from './runs/health-check-owner.js'
import { PoolStore } from './pools/pool-store.js'
import { RepositoryService } from './repositories/repository-service.js'
import { RepositoryStore } from './repositories/repository-store.js'
import { RollbackStore } from './repositories/rollback-store.js'
import { RollbackWatch, removedByRun } from './repositories/rollback-watch.js'
import { MaintenanceRunner } from './maintenance/maintenance-runner.js'
import { MaintenanceStore } from './maintenance/maintenance-store.js'
import { configFiles } from './metadata/config-export.js'
import { FileSessions } from './files/file-sessions.js'
import { XoDownloads } from './xo-remotes/xo-download.js'
import { XoImportRunner } from './xo-remotes/xo-import-runner.js'
import { XoRemoteService } from './xo-remotes/xo-remote-service.js'
import { XoRemoteStore } from './xo-remotes/xo-remote-store.js'
import { XoRestoreRunner } from './xo-remotes/xo-restore-runner.js'
import { Reporting, type ReportingOptions } from './reporting.js'
import { EventStreams } from './runs/event-streams.js'
import { RestoreRunner } from './runs/restore-runner.js'
import { RunBus } from './runs/run-bus.js'
import { RunManager } from './runs/run-manager.js'
import { RunStore } from './runs/run-store.js'
import { Scheduler } from './scheduler/scheduler.js'
import { coordinatorFor } from './cluster/coordinator-for.js'
import { wireCluster } from './cluster/cluster-wiring.js'
import type { Coordinator } from './cluster/coordinator.js'
import { SecretBox } from './secret-box.js'
import { ServerLog } from './server-log.js'
import { Settings } from './settings.js'
import { checkListenPolicy } from './tls/listen-policy.js'
import { prepareServerTls, type ServerTls } from './tls/server-tls.js'

export interface StartOptions extends ConfigOverrides {
  readonly env?: Record<string, string | undefined>
  /** Where the server's own log lines go (stderr by default). */
  readonly echo?: (line: string) => void
  /** Shorter waits for tests (webhook retries, usage samples after runs). */
  readonly reporting?: ReportingOptions
  /** How often the maintenance timer looks at the schedules (60 s; tests that tick by hand: longer). */
  readonly maintenanceTickMs?: number
  /**
   * How this instance shares the work with others (cluster/: a PgCoordinator for several instances on
   * one PostgreSQL); one instance alone by default. The server starts and stops it.
   */
  readonly coordinator?: Coordinator
}

export type { ServerServices, XoServices }

/** How runs reach their worker processes: the engine's, unless a test gives its own (testing/). */
export interface Workers {
  readonly restore: (o: RestoreWorkerOptions) => Promise<RestoreResult>
}

export interface RunningServer {
  readonly url: string
  readonly port: number
  readonly config: ServerConfig
  readonly app: FastifyInstance
  /** The server's services, for `strata server --demo` (setupDemo) and tests. */
  readonly context: ServerServices
  /**
   * Set when this start created the first admin with a generated password. It is never logged (the
   * log may go to a file or syslog): the caller shows it once on the terminal (`strata server` does).
   */
  readonly generatedAdminPassword?: string
  /** When the server serves HTTPS: its certificate's SHA-256 fingerprint, for clients to pin. */
  readonly tlsFingerprint?: string
  close(): Promise<void>
}

export function startServer(options: StartOptions = {}): Promise<RunningServer> {
  return startServerWith(options, { restore: runRestoreInWorker })
}

/**
 * startServer with the given workers. Not exported by the package: tests reach it through testing/ to
 * run restores in workers with injected faults, which nothing in a request can ask for.
 */
export async function startServerWith(options: StartOptions, workers: Workers): Promise<RunningServer> {
  const env = options.env ?? process.env
  checkListenPolicy(readServerConfig(options, env)) // before anything is made on disk
  const config = loadConfig(options, env)
  const log = new ServerLog(options.echo)
  const tls = await serverTls(config, log)
  const box = new SecretBox(config.secretKey)
  const db = await openDatabase(config.dataDir, box, config.db)
  if (config.db !== undefined) log.info(`store: PostgreSQL at ${describeDatabaseUrl(config.db.url)}`)
  const users = new Users(db, new PasswordHasher())
  const closing = new AbortController()
  allowManyListeners(closing.signal) // every restore, download and event stream listens to it
  const context = await services(
    config,
    db,
    box,
    users,
    log,
    closing.signal,
    workers,
    {
      reporting: options.reporting,
      maintenanceTickMs: options.maintenanceTickMs,
      coordinator:
        options.coordinator ??
        coordinatorFor(config.db, (severity, message) =>
          log.write(severity === 'warn' ? 'warning' : severity, message, 'strata-cluster'),
        ),
    },
    tls?.fingerprint,
  )
  // After the services: the settings' syslog forwarding is on, so the admin's creation reaches it.
  const generatedAdminPassword = await firstAdmin(users, config, log)
  await context.runs.recovered // runs a stopped server left pending are ended before any is listed
  for (const pool of await context.pools.list())
    if ((await context.agents.agentOfPool(pool.id)) === undefined)
      // an agent's pool is reached by the agent
      await context.connections.connect(pool, await context.pools.password(pool.id))
  const app = await buildApp(context, routes(context), tls)
  try {
    await context.reporting.start(config, log) // a taken metrics address stops the start here
    await app.listen({ port: config.port, host: config.host })
    await context.coordinator.start(closing.signal)
  } catch (error) {
    await context.coordinator.stop()
    await context.reporting.stop()
    await app.close()
    await context.connections.closeAll()
    context.settings.close()
    await db.close()
    throw error
  }
  const unwire = wireCluster(context)
  await context.scheduler.start()
  void sweepOwnChecks(
    (await context.pools.list()).map((pool) => ({
      name: pool.name,
      client: () => context.connections.client(pool.id),
      settle: (ms) => context.connections.settle(pool.id, ms),
    })),
    context.runs.deps.healthCheckOwner!,
    log,
    closing.signal,
  )
  context.maintenance.startTimer()
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : config.port
  const scheme = tls === undefined ? 'http' : 'https'
  const url = `${scheme}://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`
  log.info(`listening on ${url}`)
  return {
    url,
    port,
    config,
    app,
    context,
    generatedAdminPassword,
    tlsFingerprint: tls?.fingerprint,
    close: async () => {
      context.scheduler.stop()
      closing.abort()
      context.agentHub.closeAll()
      await context.runs.stopAll()
      unwire()
      await context.coordinator.stop()
      await context.files.closeAll()
      await context.reporting.stop()
      await app.close()
      await context.connections.closeAll()
      context.settings.close()
      await db.close()
    },
  }
}

/** The certificate to serve HTTPS with (made at the first start when self-signed), announced in the log. */
async function serverTls(config: ServerConfig, log: ServerLog): Promise<ServerTls | undefined> {
  if (config.tls === undefined) return undefined
  const tls = await prepareServerTls(config.tls, config.dataDir, config.host, AbortSignal.timeout(60_000))
  const kind = tls.selfSigned ? 'self-signed certificate' : 'certificate'
  log.info(`HTTPS with the ${kind} ${tls.files.cert}: SHA-256 fingerprint ${tls.fingerprint}`)
  if (tls.validTo.getTime() < Date.now())
    log.warn(
      `the certificate ${tls.files.cert} expired on ${tls.validTo.toISOString()}: clients will refuse it`,
    )
  return tls
}

/** The stores and services of one server. */
async function services(
  config: ServerConfig,
  db: Db,
  box: SecretBox,
  users: Users,
  log: ServerLog,
  closing: AbortSignal,
  workers: Workers,
  timing: { reporting?: ReportingOptions; maintenanceTickMs?: number; coordinator: Coordinator },
  tlsFingerprint?: string,
): Promise<ServerServices> {
  const tokens = new ApiTokens(db)
  const stores: Stores = {
    pools: new PoolStore(db, box),
    repositories: new RepositoryStore(db, box),
    connections: new PoolConnections(log),
    jobs: new JobStore(db),
    settings: await Settings.open(db, log),
  }
  const rollback = new RollbackWatch(new RollbackStore(db), log)
  const mountDir = nasMountDir(config.dataDir)
  const agentParts = agentServices(db, box, log, stores.repositories)
  const repositoryService = new RepositoryService(
    stores.repositories,
    closing,
    mountDir,
    rollback,
    agentParts.agentRepositories,
  )
  const base = { config, db, box, users, tokens, log, closing, repositoryService, ...stores }
  const runs = runServices(
    config.dataDir,
    { ...base, ...agentParts, coordinator: timing.coordinator },
    workers,
    timing.maintenanceTickMs,
  )
  return {
    ...base,
    ...agentParts,
    tlsFingerprint,
    credentials: new Credentials(users, tokens, agentParts.agents),
    loginLimits: new LoginLimits(),
    streams: new EventStreams(),
    files: new FileSessions({ repositoryService, log, closing }),
    ...runs,
    reporting: new Reporting({ ...base, ...runs }, timing.reporting),
    xo: xoServices({ ...base, runs: runs.runs }),
  }
}

function xoServices(
  s: Pick<ServerServices, 'db' | 'box' | 'log' | 'closing' | 'runs' | 'pools' | 'connections'> &
    Pick<ServerServices, 'repositories' | 'repositoryService'>,
): XoServices {
  const remotes = new XoRemoteService(new XoRemoteStore(s.db, s.box))
  const { runs, closing } = s
  return {
    remotes,
    downloads: new XoDownloads(remotes, s.log, closing),
    imports: new XoImportRunner({
      runs,
      remotes,
      closing,
      repositories: s.repositories,
      repositoryService: s.repositoryService,
    }),
    restores: new XoRestoreRunner({ runs, remotes, closing, pools: s.pools, connections: s.connections }),
  }
}

type Stores = Pick<ServerServices, 'pools' | 'repositories' | 'connections' | 'jobs' | 'settings'>

/** Runs: of jobs (from the API and the scheduler) and of restores, each in a worker process. */
function runServices(
  dataDir: string,
  s: Stores &
    Pick<ServerServices, 'db' | 'log' | 'closing' | 'repositoryService' | 'users' | 'coordinator'> &
    Pick<ServerServices, 'agentHub' | 'agentRepositories'>,
  workers: Workers,
  maintenanceTickMs?: number,
): Pick<ServerServices, RunServiceNames> {
  const { db, log, jobs, pools, repositories, settings, connections, repositoryService, closing } = s
  const { coordinator } = s
  const sources = { pools, repositories, jobs, settings, users: s.users }
  const bus = new RunBus()
  const restoreTag = (): Promise<string> => settings.restoreTag()
  const runStore = new RunStore(db)
  const runs = new RunManager({
    engineDir: join(dataDir, 'engine'),
    healthCheckOwner: serverId(join(dataDir, 'engine')),
    runs: runStore,
    bus,
    jobs,
    pools,
    repositories,
    log,
    restoredTag: restoreTag,
    nasHome: dataDir,
    configFiles: () => configFiles(sources),
    remote: (job, tick) => s.agentHub.runnerFor(job, tick),
    coordinator,
  })
  // A backup or mirror run's end: its repositories' usage, measured before it wrote, is out of date.
  bus.on('run', (row) => {
    if (
      (row.kind !== 'backup' && row.kind !== 'mirror' && row.kind !== 'metadata') ||
      row.status === 'pending'
    )
      return
    void jobs.list().then(
      (list) => {
        const job = list.find((j) => j.id === row.jobId)
        for (const id of job === undefined ? [] : jobRepositories(job)) repositoryService.outdated(id)
      },
      (error: unknown) => log.warn(`could not read job '${row.jobId}' after its run: ${errorMessage(error)}`),
    )
  })
  watchRetention(bus, runs, jobs, repositoryService)
  const gate = coordinator.shared ? coordinator : undefined
  const scheduler = new Scheduler({ db, jobs, log, gate, start: (job, id, at) => runs.startJob(job, id, at) })
  const restores = new RestoreRunner({
    runs,
    pools,
    connections,
    repositories,
    repositoryService,
    restoreTag,
    closing,
    runInWorker: workers.restore,
    nasHome: dataDir,
    remote: (poolId, repositoryId, what) => agentRestoreRunner(s.agentHub, poolId, repositoryId, what),
  })
  const maintenanceStore = new MaintenanceStore(db)
  const maintenance = new MaintenanceRunner({
    runs,
    repositories,
    repositoryService,
    store: maintenanceStore,
    log,
    closing,
    ...(maintenanceTickMs === undefined ? {} : { tickMs: maintenanceTickMs }),
    agents: agentMaintenance(s.agentHub, s.agentRepositories),
    ...(coordinator.shared ? { leads: () => coordinator.isLeader() } : {}),
  })
  return { runs, restores, bus, events: new RunBus(), coordinator, scheduler, maintenance, maintenanceStore }
}

type RunServiceNames =
  'runs' | 'restores' | 'bus' | 'events' | 'coordinator' | 'scheduler' | 'maintenance' | 'maintenanceStore'

/**
 * Rollback detection: while a backup run may apply retention, vanished points wait; at its end, the
 * points its retention removed are expected to be gone.
 */
function watchRetention(bus: RunBus, runs: RunManager, jobs: JobStore, service: RepositoryService): void {
  const watch = service.rollback
  if (watch === undefined) return
  bus.on('run', (row) => {
    if (row.kind !== 'backup') return
    void jobs
      .list()
      .then(async (list) => {
        const ids = list.find((j) => j.id === row.jobId)?.repositories ?? []
        if (row.status === 'pending') return ids.forEach((id) => watch.running(id, row.runId, true))
        await runs
          .tree(row.runId)
          .then((tree) => ids.forEach((id) => watch.excuse(id, removedByRun(tree))))
          .catch(() => undefined)
          .finally(() => ids.forEach((id) => watch.running(id, row.runId, false)))
      })
      .catch(() => undefined) // the job is gone: nothing to watch
  })
}

/**
 * At the first start, an 'admin' user: STRATA_ADMIN_PASSWORD, or a generated password returned to the
 * caller to show once on the terminal, never written to the log (which may be a file or syslog).
 */
async function firstAdmin(users: Users, config: ServerConfig, log: ServerLog): Promise<string | undefined> {
  if ((await users.count()) > 0) return undefined
  const generated = config.adminPassword === undefined ? randomBytes(12).toString('base64url') : undefined
  await users.create('admin', config.adminPassword ?? generated!, 'admin')
  if (generated !== undefined)
    log.info("created user 'admin' with a generated password, shown once on the terminal (change it)")
  else log.info("created user 'admin' with the password in STRATA_ADMIN_PASSWORD")
  return generated
}
