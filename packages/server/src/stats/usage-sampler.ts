// Takes the usage samples of repositories: every hour, and shortly after runs end (several ends close
// together make one sampling). A sample is the repository's stored bytes (a walk of its chunks, the same
// measure as the usage the API shows) and its logical bytes (its points' disks added up, from the
// cached manifests). One repository at a time; a repository that cannot be read is skipped with a
// line in the log, and tried again at the next sampling.
import { anySignal, errorMessage } from '@strata/core'
import type { RepositoryService } from '../repositories/repository-service.js'
import type { RepositoryStore } from '../repositories/repository-store.js'
import type { ServerLog } from '../server-log.js'
import type { UsageStore } from './usage-store.js'

export interface UsageSamplerDeps {
  readonly repositories: Pick<RepositoryStore, 'list'>
  readonly service: Pick<RepositoryService, 'measureUsage' | 'points'>
  readonly usage: UsageStore
  readonly log: ServerLog
  readonly closing: AbortSignal
  readonly intervalMs?: number
  /** How long after a run ends its repositories are sampled (ends in between are taken together). */
  readonly afterRunDelayMs?: number
}

export const SAMPLE_INTERVAL_MS = 3600_000
const SAMPLE_TIMEOUT_MS = 600_000

export class UsageSampler {
  #timer: NodeJS.Timeout | undefined
  #soon: NodeJS.Timeout | undefined
  #running: Promise<void> | undefined
  #again = false

  constructor(readonly deps: UsageSamplerDeps) {}

  start(): void {
    const interval = this.deps.intervalMs ?? SAMPLE_INTERVAL_MS
    this.#timer = setInterval(() => void this.sampleAll(), interval)
    this.#timer.unref()
    this.sampleSoon()
  }

  stop(): void {
    clearInterval(this.#timer)
    clearTimeout(this.#soon)
  }

  /** After a run: a sampling a little later, one for however many runs end meanwhile. */
  sampleSoon(): void {
    if (this.#soon !== undefined || this.deps.closing.aborted) return
    this.#soon = setTimeout(() => {
      this.#soon = undefined
      void this.sampleAll()
    }, this.deps.afterRunDelayMs ?? 5_000)
    this.#soon.unref()
  }

  /** Samples every repository; a call during a sampling makes one more after it. */
  sampleAll(): Promise<void> {
    if (this.#running !== undefined) {
      this.#again = true
      return this.#running
    }
    this.#running = this.#sampleEach().finally(() => {
      this.#running = undefined
      if (this.#again && !this.deps.closing.aborted) {
        this.#again = false
        void this.sampleAll()
      }
    })
    return this.#running
  }

  async #sampleEach(): Promise<void> {
    for (const repo of await this.deps.repositories.list()) {
      if (this.deps.closing.aborted) return
      const signal = anySignal(this.deps.closing, AbortSignal.timeout(SAMPLE_TIMEOUT_MS))
      try {
        await this.sample(repo.id, signal)
      } catch (error) {
        if (!this.deps.closing.aborted)
          this.deps.log.warn(`usage of repository '${repo.name}' not sampled: ${errorMessage(error)}`)
      }
    }
  }

  async sample(repositoryId: string, signal: AbortSignal): Promise<void> {
    const time = Date.now()
    const usage = await this.deps.service.measureUsage(repositoryId, signal)
    const points = await this.deps.service.points(repositoryId, undefined, signal)
    const logicalBytes = points.reduce((n, p) => n + p.size, 0)
    await this.deps.usage.add(repositoryId, {
      time,
      storedBytes: usage.bytes,
      logicalBytes,
      chunks: usage.chunks,
      points: points.length,
    })
  }
}
