// Restores as runs of their own, each in a worker process of the engine (as backup runs are), so that a
// crash in a restore cannot take the API down. The server checks the request here (the repository, the
// point, a connected pool and its SR), then hands the worker the order with its secrets (the pool's
// password over IPC, the repository's in the worker's environment). The worker writes the run's task
// tree to the engine's run log, so that the logs view reads backups and restores alike, and streams its
// events here; if it dies, the engine removes what it had created with this server's pool connection.
// A differential VM restore goes onto the point's own VM: the server checks first that it can
// (differential-check.ts), so that a refusal comes back with the request, not as a failed run.
import { type RestoreOrder, type RestoreResult, type RestoreWorkerOptions } from '@strata/core/engine'
import { nasMountEnv } from '../repositories/nas-mounts.js'
import { errorCode, errorMessage } from '@strata/core'
import { ApiError } from '../errors.js'
import type { PoolConnections } from '../pools/pool-connections.js'
import type { PoolRecord, PoolStore } from '../pools/pool-store.js'
import type { RepositoryService } from '../repositories/repository-service.js'
import { secretsEnv, type RepositoryRecord, type RepositoryStore } from '../repositories/repository-store.js'
import type { RunManager } from './run-manager.js'
import type { RunDetails } from './run-store.js'
import { checkInPlace, differentialCheck } from './differential-check.js'
import type { DifferentialCheck, DifferentialQuery } from '@strata/contract'

export interface RestoreRequest {
  readonly repositoryId: string
  readonly pointId: string
  readonly kind: 'vm' | 'disk'
  readonly poolId: string
  readonly srUuid: string
  readonly disk?: number
  readonly start?: boolean
  /** kind 'vm': onto the point's own VM, rewriting only what differs. */
  readonly differential?: boolean
}

export interface RestoreRunnerDeps {
  readonly runs: RunManager
  readonly pools: PoolStore
  readonly connections: PoolConnections
  readonly repositories: RepositoryStore
  readonly repositoryService: RepositoryService
  /** The tag restored VMs get (the server's setting). */
  readonly restoreTag: () => Promise<string>
  /** Aborted when the server stops: running restores are cancelled (their workers undo their work). */
  readonly closing: AbortSignal
  /** Runs a restore in a worker process: the engine's runRestoreInWorker (tests: engine/testing/). */
  readonly runInWorker: (o: RestoreWorkerOptions) => Promise<RestoreResult>
  /** The server's data directory, under which a worker mounts NAS remotes (nas-mounts.ts). */
  readonly nasHome?: string
  /**
   * Where a restore onto the pool from the repository runs when not here: its agent's
   * (agents/agent-restores.ts), which refuses a repository of another agent's.
   */
  readonly remote?: (
    poolId: string,
    repositoryId: string,
    what: string,
  ) => Promise<RestoreWorkerRunner | undefined>
}

type RestoreWorkerRunner = (o: RestoreWorkerOptions) => Promise<RestoreResult>

/** The secrets a worker may use are the repository's: none from the server's own environment. */
const NO_SECRETS = {
  STRATA_KEY_FILE: undefined,
  STRATA_PASSPHRASE: undefined,
  STRATA_S3_ACCESS_KEY_ID: undefined,
  STRATA_S3_SECRET_ACCESS_KEY: undefined,
}

const NOT_FOUND = new Set(['POINT_NOT_FOUND', 'VM_NOT_FOUND', 'VM_AMBIGUOUS'])

export class RestoreRunner {
  constructor(readonly deps: RestoreRunnerDeps) {}

  /** Starts a restore; resolves with its run's id once its worker is forked. */
  async start(r: RestoreRequest): Promise<string> {
    // An agent's pool: the agent runs it (and checks the SR and the VM, which the server cannot reach).
    const what = `the restore of point '${r.pointId}'`
    const remote = await this.deps.remote?.(r.poolId, r.repositoryId, what)
    const { repository, pool } = await this.#checkTarget(r, remote === undefined)
    const signal = AbortSignal.timeout(60_000)
    // An agent's repository: its agent finds the point (the server does not open it).
    const { point, vmName: source, manifest } = await this.#point(repository.id, r.pointId, signal)
    if (r.differential === true && remote === undefined)
      await checkInPlace(this.deps.connections, pool, manifest!, signal)
    // A restore run is named after the VM it restores.
    const jobName =
      r.kind === 'disk'
        ? `restore of disk ${r.disk!} of ${source}`
        : `restore of ${source}${r.differential === true ? ' onto itself' : ''}`
    const order = await this.#order(r, pool, point, {
      jobId: 'restore',
      jobName,
      kind: r.kind,
      source,
      point,
    })
    const { nasHome } = this.deps
    const env = {
      ...NO_SECRETS,
      ...(nasHome === undefined || remote !== undefined ? {} : nasMountEnv(nasHome)),
      ...secretsEnv(await this.deps.repositories.secrets(repository.id)),
    }
    const names = { pools: { [pool.id]: pool.name }, repositories: { [repository.id]: repository.name } }
    return this.#run(order, env, jobName, { names }, remote ?? this.deps.runInWorker)
  }

  /** Whether the point can be restored onto its own VM on the pool, rewriting only what differs. */
  async differential(q: DifferentialQuery): Promise<DifferentialCheck> {
    const pool = await this.deps.pools.get(q.poolId)
    const signal = AbortSignal.timeout(60_000)
    const repositoryId = (await this.deps.repositories.get(q.repositoryId)).id
    // The pool must be one this server reaches, and so must the repository (open() refuses an agent's).
    await this.deps.repositoryService.open(repositoryId, signal)
    const { manifest } = await this.#point(repositoryId, q.pointId, signal)
    return differentialCheck(this.deps.connections, pool, manifest!, signal)
  }

  async #point(repositoryId: string, pointId: string, signal: AbortSignal) {
    return this.deps.repositoryService.restorePoint(repositoryId, pointId, signal).catch((error: unknown) => {
      // Not found here or by the agent: a 404; anything else (the agent unreachable…) as it is.
      if (!NOT_FOUND.has(errorCode(error))) throw error
      throw new ApiError(404, 'NOT_FOUND', (error as Error).message)
    })
  }

  #run(
    order: RestoreOrder,
    env: RestoreWorkerOptions['env'],
    jobName: string,
    details: RunDetails,
    runInWorker: RestoreWorkerRunner,
  ): string {
    const { runs, connections } = this.deps
    let runId = ''
    const done = runInWorker({
      order,
      dataDir: runs.engineDir,
      signal: this.deps.closing,
      env,
      killAfterMs: 30_000,
      xapi: () => connections.client(order.pool.id),
      onStart: (info) => {
        runId = info.runId
        void runs.beginOther(
          { runId, jobId: 'restore', jobName, kind: 'restore', start: Date.now() },
          details,
        )
      },
      onEvent: (event) => runs.onEvent(runId, event),
    }).then(
      (result) => runs.endOther(runId, result.status, result.error, restoredVms(result)),
      (error: unknown) =>
        runs.endOther(runId, 'failure', { code: errorCode(error), message: errorMessage(error) }),
    )
    runs.track(done)
    return runId
  }

  /** The worker's order: the pool with its password, the repository as recorded (its identity checked). */
  async #order(
    r: RestoreRequest,
    pool: PoolRecord,
    pointId: string,
    facts: Record<string, unknown>,
  ): Promise<RestoreOrder> {
    const repository = await this.deps.repositories.get(r.repositoryId)
    const common = {
      pool: {
        id: pool.id,
        name: pool.name,
        url: pool.url,
        user: pool.username,
        password: await this.deps.pools.password(pool.id),
        ...(pool.fingerprint === undefined ? {} : { fingerprint: pool.fingerprint }),
        ...(pool.insecureHttp ? { insecureHttp: true } : {}),
      },
      repository: { name: repository.name, location: repository.location, expected: repository.identity },
      pointId,
      srUuid: r.srUuid,
      facts: { ...facts, repository: repository.name, pool: pool.name, sr: r.srUuid },
    }
    return r.kind === 'vm'
      ? r.differential === true
        ? { ...common, kind: 'vm', differential: true }
        : { ...common, kind: 'vm', start: r.start === true, tag: await this.deps.restoreTag() }
      : { ...common, kind: 'disk', disk: r.disk! }
  }

  /** The request names things that exist: a repository, a connected pool, one of its SRs. */
  async #checkTarget(
    r: RestoreRequest,
    here: boolean,
  ): Promise<{ repository: RepositoryRecord; pool: PoolRecord }> {
    const repository = await this.deps.repositories.get(r.repositoryId)
    const pool = await this.deps.pools.get(r.poolId)
    if (here) this.#checkSr(pool, r.srUuid)
    if (r.kind !== 'vm' && r.differential === true)
      throw new ApiError(400, 'INVALID_REQUEST', "body/differential is for kind 'vm' (onto its own VM)", {
        field: 'body/differential',
      })
    if (r.kind === 'disk' && r.disk === undefined)
      throw new ApiError(400, 'INVALID_REQUEST', "body/disk is needed for kind 'disk'", {
        field: 'body/disk',
      })
    return { repository, pool }
  }

  /** A pool this server is connected to, and one of its SRs. */
  #checkSr(pool: PoolRecord, srUuid: string): void {
    const cache = this.deps.connections.cache(pool.id)
    if (this.deps.connections.client(pool.id) === undefined || cache === undefined)
      throw new ApiError(502, 'POOL_UNREACHABLE', `pool '${pool.name}' is not connected`)
    if (cache.find('sr', { uuid: srUuid }).length === 0) {
      const srs = [...cache.all('sr').values()].filter((sr) => sr.content_type !== 'iso')
      const list = srs.map((sr) => `'${String(sr.name_label)}' (${String(sr.uuid)})`).join(', ') || 'none'
      const message = `no SR '${srUuid}' on pool '${pool.name}'; its SRs: ${list}`
      throw new ApiError(400, 'INVALID_REQUEST', message, { field: 'body/srUuid' })
    }
  }
}

/** The VM a restore created, for the run's summary (docs/api.md: `vms`). */
function restoredVms(result: RestoreResult): RunDetails | undefined {
  const restored = result.restored
  if (restored === undefined || !('vmUuid' in restored)) return undefined
  return { vms: [{ uuid: restored.vmUuid, name: restored.vmName, status: 'success' }] }
}
