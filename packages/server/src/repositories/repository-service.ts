// Opened repositories and what the restore view reads from them. Points come from a cache that stays
// right when another process (a worker, the CLI, another server) writes: every read lists the points'
// manifest keys (one listing, no object read) and reads only manifests not seen before. Manifests are
// written once and never change, so a cached one is valid as long as its key is listed; deleted points
// drop out with the listing. Usage (a walk of every chunk) is cached for a minute.
import { listRestorePoints, type RestorePointInfo } from '@strata/core/engine'
import { openRepository } from '@strata/core/open'
import { readManifest, type Manifest, type PointSummary, type Repository } from '@strata/core/repository'
import { ApiError } from '../errors.js'
import { secretsEnv, type RepositoryStore } from './repository-store.js'

/** docs/api.md: a restore point as the API shows it. */
export interface PointView {
  readonly id: string
  readonly ref: string
  readonly time: number
  readonly vmUuid: string
  readonly vmName: string
  readonly disks: RestorePointInfo['disks']
  readonly size: number
  /** Stored bytes the point added (chunks no earlier point had). */
  readonly newBytes: number
  readonly kind: RestorePointInfo['kind']
  readonly jobId?: string
  readonly scheduleId?: string
}

export interface Usage {
  readonly bytes: number
  readonly chunks: number
}

const USAGE_TTL_MS = 60_000

export class RepositoryService {
  readonly #open = new Map<string, Promise<Repository>>()
  readonly #manifests = new Map<string, Manifest>()
  readonly #usage = new Map<string, { at: number; usage: Usage }>()

  constructor(readonly store: RepositoryStore) {}

  open(id: string, signal: AbortSignal): Promise<Repository> {
    let opened = this.#open.get(id)
    if (opened === undefined) {
      opened = this.#openNow(id, signal)
      this.#open.set(id, opened)
      opened.catch(() => this.#open.delete(id))
    }
    return opened
  }

  /** After an update or delete: the next use opens it again with the new settings. */
  forget(id: string): void {
    this.#open.delete(id)
    this.#usage.delete(id)
  }

  /** Points of the VM named `vm` (uuid or name) or of all, newest first. */
  async points(id: string, vm: string | undefined, signal: AbortSignal): Promise<PointView[]> {
    const repo = await this.open(id, signal)
    const read = (point: PointSummary, s?: AbortSignal) => this.#manifest(id, repo, point, s ?? signal)
    return (await listRestorePoints(repo, vm, signal, read)).map(view).reverse()
  }

  async vms(
    id: string,
    signal: AbortSignal,
  ): Promise<{ vmUuid: string; name: string; points: number; last: number }[]> {
    const byVm = new Map<string, { vmUuid: string; name: string; points: number; last: number }>()
    for (const p of await this.points(id, undefined, signal)) {
      const entry = byVm.get(p.vmUuid) ?? { vmUuid: p.vmUuid, name: p.vmName, points: 0, last: p.time }
      entry.points++
      byVm.set(p.vmUuid, entry)
    }
    return [...byVm.values()].sort((a, b) => a.name.localeCompare(b.name))
  }

  /** Usage when known (computed in the background, at most once a minute). */
  usage(id: string): Usage | undefined {
    const cached = this.#usage.get(id)
    if (cached === undefined || Date.now() - cached.at > USAGE_TTL_MS)
      void this.#measure(id).catch(() => undefined)
    return cached?.usage
  }

  async #measure(id: string): Promise<void> {
    const repo = await this.open(id, AbortSignal.timeout(60_000))
    let bytes = 0
    let chunks = 0
    for await (const info of repo.store.list('chunks/', { signal: AbortSignal.timeout(300_000) })) {
      bytes += info.size
      chunks++
    }
    this.#usage.set(id, { at: Date.now(), usage: { bytes, chunks } })
  }

  async #manifest(id: string, repo: Repository, point: PointSummary, signal: AbortSignal): Promise<Manifest> {
    const key = `${id}:${point.ref}`
    let manifest = this.#manifests.get(key)
    if (manifest === undefined) {
      manifest = await readManifest(repo, point, signal)
      this.#manifests.set(key, manifest)
    }
    return manifest
  }

  async #openNow(id: string, signal: AbortSignal): Promise<Repository> {
    const record = this.store.get(id)
    const secrets = this.store.secrets(id)
    try {
      return await openRepository(record.location, {
        credentials: secretsEnv(secrets),
        signal,
        passphrase:
          secrets.passphrase === undefined ? undefined : new TextEncoder().encode(secrets.passphrase),
      })
    } catch (error) {
      throw new ApiError(
        502,
        'REPOSITORY_UNAVAILABLE',
        `repository '${record.name}' cannot be opened: ${(error as Error).message}`,
      )
    }
  }
}

function view({ pointId, time, tags: _tags, ...p }: RestorePointInfo): PointView {
  return { ...p, id: pointId, time: time.getTime() }
}
