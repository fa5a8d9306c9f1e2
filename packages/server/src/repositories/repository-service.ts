// Opened repositories and what the restore view reads from them. Points come from the repository's point
// index (docs/repository-format.md, "Point index"), which stays right when another process (a worker,
// the CLI, another server) writes: every read lists the index's one prefix and reads only manifests not
// seen before (the core keeps what it read per open repository; a cold start reads the index's segment).
// A repository without an index yet is listed from its manifest keys, with each point's description
// cached here (a few fields, not the manifest), and gets its index built once in the background. Usage (a walk of every chunk) is cached for a minute and measured in the
// background one repository at a time, never twice at once for one: any number of cheap listings
// (GET /api/repositories, the overview) start at most one walk per repository and minute.
import {
  describePoint,
  findRestorePoint,
  listRestorePoints,
  pointVmName,
  type RestorePointInfo,
} from '@strata/core/engine'
import { openRepository } from '@strata/core/open'
import { measureRepositoryUsage, type PointFound } from '@strata/core/agent'
import {
  buildPointIndex,
  deletePoint,
  formatPointRef,
  hasPointIndex,
  manifestKey,
  revalidatePointIndex,
  protectPoint,
  readManifest,
  resolvePoint,
  unprotectPoint,
  walkPoints,
  type Manifest,
  type PointSummary,
  type Repository,
} from '@strata/core/repository'
import { Semaphore, anySignal } from '@strata/core'
import { repositoryApiError } from './repository-errors.js'
import { secretsEnv, type RepositoryStore } from './repository-store.js'
import type { RollbackWatch } from './rollback-watch.js'
import { view, type PointView } from './point-view.js'

export type { PointView } from './point-view.js'

export interface Usage {
  readonly bytes: number
  readonly chunks: number
  /** Immutable repositories: the points, chunks and bytes no delete can free yet. */
  readonly locked?: { readonly points: number; readonly chunks: number; readonly bytes: number }
}

/**
 * Repositories assigned to an agent (docs/agents.md): the server never opens them, it asks the agent
 * (agents/agent-repository-access.ts). Opening one here fails with notHere().
 */
export interface RemoteRepositories {
  agentOf(id: string): Promise<string | undefined>
  points(id: string, vm: string | undefined, signal: AbortSignal): Promise<PointView[]>
  usage(id: string, signal: AbortSignal): Promise<Usage>
  /** The point a restore names, found by the agent (a restore from the repository runs there). */
  point(id: string, pointId: string, signal: AbortSignal): Promise<PointFound>
  deletePoint(id: string, pointId: string, signal: AbortSignal): Promise<string>
  protect(id: string, pointId: string, on: boolean, signal: AbortSignal): Promise<string>
  notHere(id: string): Promise<Error>
}

const USAGE_TTL_MS = 60_000
const WALK_TIMEOUT_MS = 300_000
const REVALIDATE_MS = 60_000

export class RepositoryService {
  readonly #open = new Map<string, Promise<Repository>>()
  /** Each point's description but `protected` (a mark that comes and goes), by repository and point. */
  readonly #described = new Map<string, RestorePointInfo>()
  /** The retention date of each point's manifest (immutable repositories): it never changes. */
  readonly #retained = new Map<string, number | null>()
  /** The last measure (or failed attempt, without usage) of each repository. */
  readonly #usage = new Map<string, { at: number; usage?: Usage }>()
  readonly #measuring = new Set<string>()
  /** Bumped by forget(): a walk of the old settings does not record its result. */
  readonly #generation = new Map<string, number>()
  readonly #walks = new Semaphore(1)
  /** Repositories known to have a point index, and those whose index is being built here. */
  readonly #indexed = new Set<string>()
  readonly #indexing = new Set<string>()
  /** When each repository's listing was last checked against its manifests, and those being checked. */
  readonly #revalidated = new Map<string, number>()
  readonly #revalidating = new Set<string>()
  /**
   * How often a full listing is followed by a walk of the manifests (in the background, one walk at a
   * time with the usage measures): what finds a manifest removed behind the point index's back.
   */
  revalidateMs = REVALIDATE_MS

  constructor(
    readonly store: RepositoryStore,
    /** Aborted when the server stops: a walk in progress ends. */
    readonly closing: AbortSignal = new AbortController().signal,
    /** Where NAS remotes are mounted (nas-mounts.ts); the CLI's default without. */
    readonly mountDir?: string,
    /** Compares each full listing with the points seen before (rollback detection). */
    readonly rollback?: RollbackWatch,
    /** The agents' repositories, read through their agent. */
    readonly remote?: RemoteRepositories,
  ) {}

  async open(id: string, signal: AbortSignal): Promise<Repository> {
    if (this.remote !== undefined && (await this.remote.agentOf(id)) !== undefined)
      throw await this.remote.notHere(id)
    let opened = this.#open.get(id)
    if (opened === undefined) {
      opened = this.#openNow(id, signal)
      this.#open.set(id, opened)
      opened.catch(() => this.#open.delete(id))
    }
    return opened
  }

  /** open(), but opened again if its config or its cold tier changed since (maintenance). */
  openCurrent(id: string, signal: AbortSignal): Promise<Repository> {
    return this.#current(id, signal)
  }

  /** After an update or delete: the next use opens it again with the new settings. */
  forget(id: string): void {
    this.#open.delete(id)
    this.outdated(id)
  }

  /**
   * A backup wrote to the repository (or its retention removed points): the usage measured before is not
   * shown any more (null, measuring, never a false figure), and a walk already running does not record.
   */
  outdated(id: string): void {
    this.#usage.delete(id)
    this.#generation.set(id, (this.#generation.get(id) ?? 0) + 1)
  }

  /** Points of the VM named `vm` (uuid or name) or of all, newest first. */
  async points(id: string, vm: string | undefined, signal: AbortSignal): Promise<PointView[]> {
    if (this.remote !== undefined && (await this.remote.agentOf(id)) !== undefined) {
      const listed = await this.remote.points(id, vm, signal)
      if (vm === undefined) await this.rollback?.observe(id, listed)
      return listed
    }
    const repo = await this.#current(id, signal)
    const read = (point: PointSummary, s?: AbortSignal) => this.#describe(id, repo, point, s ?? signal)
    const listed = (await listRestorePoints(repo, vm, signal, read)).map(view).reverse()
    if (!this.#indexed.has(id)) await this.#index(id, repo, signal)
    else if (vm === undefined) this.#revalidate(id, repo)
    if (vm === undefined) await this.rollback?.observe(id, listed)
    if (repo.config.immutable === undefined) return listed
    return Promise.all(listed.map((p) => this.#withLock(id, repo, p, signal)))
  }

  async vms(
    id: string,
    signal: AbortSignal,
  ): Promise<{ vmUuid: string; name: string; points: number; last: number }[]> {
    const byVm = new Map<string, { vmUuid: string; name: string; points: number; last: number }>()
    for (const p of await this.points(id, undefined, signal)) {
      if (p.kind === 'metadata') continue // a metadata job's: a pool's database, the configuration
      const entry = byVm.get(p.vmUuid) ?? { vmUuid: p.vmUuid, name: p.vmName, points: 0, last: p.time }
      entry.points++
      byVm.set(p.vmUuid, entry)
    }
    return [...byVm.values()].sort((a, b) => a.name.localeCompare(b.name))
  }

  /** Deletes one point (its chunks go at the next GC); a protected one is refused (POINT_PROTECTED). */
  async deletePoint(id: string, pointId: string, signal: AbortSignal): Promise<string> {
    const remote = await this.#remote(id)
    if (remote !== undefined) {
      // The point's own id is known once the agent resolved it: excused by the id asked ('<vm>/<id>' or id).
      const asked = pointId.slice(pointId.lastIndexOf('/') + 1)
      this.rollback?.excuse(id, [asked])
      try {
        return await remote.deletePoint(id, pointId, signal)
      } catch (error) {
        this.rollback?.withdraw(id, [asked])
        throw error
      }
    }
    const repo = await this.#current(id, signal)
    const ref = await resolvePoint(repo, pointId, signal)
    // Excused first: a listing racing with the delete must not take it for a rollback.
    this.rollback?.excuse(id, [ref.pointId])
    try {
      await deletePoint(repo, ref, signal)
    } catch (error) {
      this.rollback?.withdraw(id, [ref.pointId])
      throw error
    }
    return ref.pointId
  }

  /** Protects a point from retention and deletes, or lifts it; answers the point's id. */
  async protect(id: string, pointId: string, on: boolean, signal: AbortSignal): Promise<string> {
    const remote = await this.#remote(id)
    if (remote !== undefined) return remote.protect(id, pointId, on, signal)
    const repo = await this.#current(id, signal)
    const ref = await resolvePoint(repo, pointId, signal)
    await (on ? protectPoint(repo, ref, signal) : unprotectPoint(repo, ref, signal))
    return ref.pointId
  }

  /**
   * The point a restore names, as the order carries it ('<vm>/<id>'), with its VM's name; the manifest
   * too when this server opens the repository (an agent's repository: its agent finds the point).
   */
  async restorePoint(
    id: string,
    pointId: string,
    signal: AbortSignal,
  ): Promise<PointFound & { manifest?: Manifest }> {
    const remote = await this.#remote(id)
    if (remote !== undefined) return remote.point(id, pointId, signal)
    const repo = await this.open(id, signal)
    const ref = await findRestorePoint(repo, pointId, undefined, signal)
    const manifest = await readManifest(repo, ref, signal)
    return { point: formatPointRef(ref), vmName: pointVmName(manifest), manifest }
  }

  /** The agents' repositories when this one is an agent's, else undefined. */
  async #remote(id: string): Promise<RemoteRepositories | undefined> {
    return this.remote !== undefined && (await this.remote.agentOf(id)) !== undefined
      ? this.remote
      : undefined
  }

  /** What the API says of usage: null until measured (never a false 0 B), and whether a measure runs. */
  usageState(id: string): { usage: Usage | null; measuring: boolean } {
    const usage = this.usage(id)
    return { usage: usage ?? null, measuring: this.#measuring.has(id) }
  }

  /** Usage when known; a measure starts in the background when none is recent nor running. */
  usage(id: string): Usage | undefined {
    const cached = this.#usage.get(id)
    const stale = cached === undefined || Date.now() - cached.at > USAGE_TTL_MS
    if (stale && !this.#measuring.has(id)) {
      this.#measuring.add(id)
      const generation = this.#generation.get(id) ?? 0
      void this.#walks
        .run(() => this.#measure(id), this.closing)
        .then(
          (usage) => this.#record(id, generation, usage),
          // Remembered as an attempt: a repository that cannot be read is not walked at every request.
          () => this.#record(id, generation, cached?.usage),
        )
        .finally(() => this.#measuring.delete(id))
    }
    return cached?.usage
  }

  /**
   * Measures now, one walk at a time like the background measures, and keeps the result as the cached
   * usage (the usage samples of charts and metrics take it this way).
   */
  async measureUsage(id: string, signal: AbortSignal): Promise<Usage> {
    const generation = this.#generation.get(id) ?? 0
    const usage = await this.#walks.run(() => this.#measure(id), anySignal(this.closing, signal))
    this.#record(id, generation, usage)
    return usage
  }

  #record(id: string, generation: number, usage: Usage | undefined): void {
    if ((this.#generation.get(id) ?? 0) === generation) this.#usage.set(id, { at: Date.now(), usage })
  }

  async #measure(id: string): Promise<Usage> {
    const signal = AbortSignal.any([this.closing, AbortSignal.timeout(WALK_TIMEOUT_MS)])
    if (this.remote !== undefined && (await this.remote.agentOf(id)) !== undefined)
      return this.remote.usage(id, signal)
    return measureRepositoryUsage(await this.open(id, signal), signal)
  }

  /**
   * A repository written before the point index existed lists by walking its point directories: its
   * index is built once, in the background (listings walk until it is ready), on the first listing.
   */
  async #index(id: string, repo: Repository, signal: AbortSignal): Promise<void> {
    if (await hasPointIndex(repo, signal)) {
      this.#indexed.add(id)
      return
    }
    if (this.#indexing.has(id)) return
    this.#indexing.add(id)
    const building = AbortSignal.any([this.closing, AbortSignal.timeout(WALK_TIMEOUT_MS)])
    void walkPoints(repo, undefined, building)
      .then((points) => buildPointIndex(repo, points, building))
      .then(
        () => this.#indexing.delete(id), // the next listing finds it ready
        // Read-only credentials, or a store that failed: listings keep walking; the next start retries.
        () => undefined,
      )
  }

  /**
   * The index lists a point while its entry exists; a manifest deleted alone (a delete cut short, or
   * someone with access to the store) is found by this walk, and the point leaves the next listing (the
   * rollback watch then sees it vanish).
   */
  #revalidate(id: string, repo: Repository): void {
    const last = this.#revalidated.get(id)
    if (this.#revalidating.has(id) || (last !== undefined && Date.now() - last < this.revalidateMs)) return
    this.#revalidating.add(id)
    const signal = AbortSignal.any([this.closing, AbortSignal.timeout(WALK_TIMEOUT_MS)])
    void this.#walks
      .run(async () => {
        const committed = new Set((await walkPoints(repo, undefined, signal)).map((p) => p.ref))
        revalidatePointIndex(repo, committed)
      }, signal)
      .catch(() => undefined) // the next listing's walk tries again
      .finally(() => {
        this.#revalidated.set(id, Date.now())
        this.#revalidating.delete(id)
      })
  }

  /** The point with its lock date while it is to come (one look per manifest, then cached). */
  async #withLock(id: string, repo: Repository, point: PointView, signal: AbortSignal): Promise<PointView> {
    const key = `${id}:${point.vmUuid}/${point.id}`
    let until = this.#retained.get(key)
    if (until === undefined) {
      const ref = { vm: point.vmUuid, pointId: point.id }
      const date = await repo.store.objectLock?.retention(manifestKey(ref), { signal })
      until = date === undefined ? null : date.until.getTime()
      this.#retained.set(key, until)
    }
    return until !== null && until > Date.now() ? { ...point, lockedUntil: until } : point
  }

  async #describe(
    id: string,
    repo: Repository,
    point: PointSummary,
    signal: AbortSignal,
  ): Promise<RestorePointInfo> {
    const key = `${id}:${point.ref}`
    let described = this.#described.get(key)
    if (described === undefined) {
      described = describePoint(point, await readManifest(repo, point, signal))
      this.#described.set(key, described)
    }
    return { ...described, protected: point.protected }
  }

  /**
   * The open repository, once its config object (a few hundred bytes) is still the one it was opened
   * with: a repository re-created or replaced behind the server since is opened anew, and so refused
   * (REPOSITORY_CONFIG_CHANGED) instead of being listed or changed through the old handle.
   */
  async #current(id: string, signal: AbortSignal): Promise<Repository> {
    const repo = await this.open(id, signal)
    if (await sameConfig(repo, signal)) return repo
    this.forget(id)
    return this.open(id, signal)
  }

  /** Opens with what was recorded when the repository was added: a changed configuration is refused. */
  async #openNow(id: string, signal: AbortSignal): Promise<Repository> {
    const record = await this.store.get(id)
    const secrets = await this.store.secrets(id)
    let repo: Repository
    try {
      repo = await openRepository(record.location, {
        credentials: secretsEnv(secrets),
        ...(this.mountDir === undefined ? {} : { store: { nas: { mountDir: this.mountDir } } }),
        signal,
        expected: record.identity,
        passphrase:
          secrets.passphrase === undefined ? undefined : new TextEncoder().encode(secrets.passphrase),
      })
    } catch (error) {
      throw repositoryApiError(error, `repository '${record.name}' cannot be opened`, 502)
    }
    // Recorded at the first open of a repository added before identities were (or once it is sealed).
    const now = repo.identity
    if (record.identity === undefined || (now.sealed && !record.identity.sealed))
      await this.store.recordIdentity(id, now)
    return repo
  }
}

const MAX_CONFIG_BYTES = 64 * 1024

/** Whether the repository's config object still names the repository this handle opened. */
async function sameConfig(repo: Repository, signal: AbortSignal): Promise<boolean> {
  try {
    const info = await repo.store.stat('config', { signal })
    if (info === undefined || info.size > MAX_CONFIG_BYTES) return false
    const config = JSON.parse(new TextDecoder().decode(await repo.store.get('config', { signal })))
    if ((config as { id?: unknown }).id !== repo.config.id) return false
    // A cold tier added since this handle opened (`strata repo tier add`): opened again, it attaches it.
    return (repo.cold === undefined) === ((await repo.store.stat('tier', { signal })) === undefined)
  } catch {
    signal.throwIfAborted()
    return false // opening it again says what is wrong
  }
}
