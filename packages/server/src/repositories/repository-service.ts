// Opened repositories and what the restore view reads from them. Points come from a cache that stays
// right when another process (a worker, the CLI, another server) writes: every read lists the points'
// manifest keys (one listing, no object read) and reads only manifests not seen before. Manifests are
// written once and never change, so a cached one is valid as long as its key is listed; deleted points
// drop out with the listing. Usage (a walk of every chunk) is cached for a minute.
import { openRepository } from '@strata/core/open'
import {
  listPoints,
  readManifest,
  type Manifest,
  type PointSummary,
  type Repository,
} from '@strata/core/repository'
import { repositoryApiError } from './repository-errors.js'
import { secretsEnv, type RepositoryStore } from './repository-store.js'

export interface PointView {
  readonly id: string
  readonly ref: string
  readonly time: number
  readonly vmUuid: string
  readonly vmName: string
  readonly disks: { readonly name: string; readonly size: number }[]
  readonly size: number
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

  async points(id: string, vmUuid: string | undefined, signal: AbortSignal): Promise<PointView[]> {
    const repo = await this.open(id, signal)
    const listed = await listPoints(repo, vmUuid, signal)
    const out: PointView[] = []
    for (const point of listed) out.push(view(point, await this.#manifest(id, repo, point, signal)))
    return out.reverse()
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

  /** Opens with what was recorded when the repository was added: a changed configuration is refused. */
  async #openNow(id: string, signal: AbortSignal): Promise<Repository> {
    const record = this.store.get(id)
    const secrets = this.store.secrets(id)
    let repo: Repository
    try {
      repo = await openRepository(record.location, {
        credentials: secretsEnv(secrets),
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
      this.store.recordIdentity(id, now)
    return repo
  }
}

function view(point: PointSummary, manifest: Manifest): PointView {
  const meta = manifest.vm.metadata as { vm?: { name_label?: unknown } } | undefined
  return {
    id: point.pointId,
    ref: point.ref,
    time: point.time.getTime(),
    vmUuid: point.vm,
    vmName: String(meta?.vm?.name_label ?? point.vm),
    disks: manifest.disks.map((d) => ({ name: d.name, size: d.size })),
    size: manifest.disks.reduce((n, d) => n + d.size, 0),
    jobId: manifest.jobId,
    scheduleId: manifest.scheduleId,
  }
}
