// verify: reads and authenticates every stored chunk (or a random sample). A chunk that fails twice is
// marked bad and moved to quarantine (quarantine.ts), so that the next backup that needs it stores it
// again (self-healing); the restore points that reference it are reported by `check` until then. A chunk
// that reads back sound when it is about to be moved stays where it is: the reads were at fault.
import { randomInt } from 'node:crypto'
import { Semaphore, errorMessage } from '../shared/index.js'
import { isNotFound } from '../storage/index.js'
import { RepositoryError } from './errors.js'
import { isCorruption, quarantineChunk } from './quarantine.js'
import { SharedSlots } from './shared-slots.js'
import type { Repository } from './repository.js'
import { PREFIX_CHUNKS } from './format/constants.js'
import { chunkIdOfKey } from './format/layout.js'
import { verifyCold, type ColdVerifyResult } from './tier-verify.js'

export interface VerifyOptions {
  /** Fraction of chunks to read, in (0, 1]; default 1 (all). */
  readonly sample?: number
  readonly concurrency?: number
  /** Report bad chunks without marking or moving them. */
  readonly dryRun?: boolean
  readonly signal?: AbortSignal
  /** Called as chunks are listed and read (at most every `progressMs`, and once at the end). */
  readonly onProgress?: (progress: VerifyProgress) => void
  readonly progressMs?: number
}

/**
 * Chunk ids are uniform hashes and the listing comes in id order: how far the listing is into the id
 * space estimates the fraction done without counting the chunks first (a second listing) or holding them.
 */
export interface VerifyProgress {
  readonly listed: number
  readonly checked: number
  readonly bytes: number
  /** Estimated fraction of the repository done, in [0, 1]. */
  readonly fraction: number
  /** Estimated seconds left; undefined until there is something to go on. */
  readonly etaSeconds: number | undefined
}

export interface VerifyResult {
  readonly chunks: number
  readonly checked: number
  readonly bytes: number
  /** Chunks that failed twice (quarantined, unless dryRun). */
  readonly bad: readonly { readonly id: string; readonly reason: string }[]
  /** Chunks that failed twice but read back sound when about to be moved: left in place. */
  readonly flaky: readonly string[]
  /** The cold tier's chunks (tier-verify.ts); absent without an open cold tier. */
  readonly cold?: ColdVerifyResult
}

export async function verifyChunks(repo: Repository, options: VerifyOptions = {}): Promise<VerifyResult> {
  const { signal } = options
  const sample = options.sample ?? 1
  if (!(sample > 0 && sample <= 1))
    throw new RepositoryError('INVALID_ARGUMENT', `sample ${sample} is not in (0, 1]`)
  const limit = new Semaphore(options.concurrency ?? 8)
  const slots = new SharedSlots(repo.chunkSize)
  const bad: { id: string; reason: string }[] = []
  const flaky: string[] = []
  // Only the reads in flight are held (at most `concurrency`): each leaves the set as it settles.
  const running = new Set<Promise<void>>()
  let failure: unknown
  let chunks = 0
  let checked = 0
  let bytes = 0
  /** Undefined if the chunk reads back fine (or vanished: a GC deleted it since the listing). */
  const problem = async (hex: string, key: string): Promise<string | undefined> => {
    try {
      const data = await repo.store.get(key, { signal })
      bytes += data.length
      const out = slots.take()
      try {
        await repo.decodeChunkInto(hex, data, out)
      } finally {
        slots.give(out) // decoded and authenticated, or not: the plaintext itself is not needed
      }
      return undefined
    } catch (error) {
      if (isNotFound(error)) return undefined
      if (isCorruption(error)) return errorMessage(error)
      throw error
    }
  }
  const verifyOne = async (hex: string, key: string): Promise<void> => {
    try {
      checked++
      // A bad read must not condemn a good chunk: it is marked only if a second read fails too.
      if ((await problem(hex, key)) === undefined) return
      const reason = await problem(hex, key)
      if (reason === undefined) return
      if (options.dryRun) return void bad.push({ id: hex, reason })
      const outcome = await quarantineChunk(repo, hex, reason, signal)
      if (outcome === 'quarantined') bad.push({ id: hex, reason })
      if (outcome !== 'sound') return
      flaky.push(hex)
      await repo.clearBad(hex, signal)
    } finally {
      limit.release()
    }
  }
  const progress = progressReporter(options, () => ({ listed: chunks, checked, bytes }))
  for await (const info of repo.store.list(PREFIX_CHUNKS, { signal })) {
    const hex = chunkIdOfKey(info.key)
    if (hex === undefined) continue
    chunks++
    progress.at(hex)
    if (sample < 1 && randomInt(1_000_000) >= sample * 1_000_000) continue
    await limit.acquire(signal)
    if (failure !== undefined) break
    const one: Promise<void> = verifyOne(hex, info.key).then(
      () => void running.delete(one),
      (error: unknown) => {
        running.delete(one)
        failure ??= error
      },
    )
    running.add(one)
  }
  await Promise.all(running)
  if (failure !== undefined) throw failure
  const coldStore = repo.cold?.store
  const cold =
    coldStore &&
    (await verifyCold(repo, coldStore, { ...options, sample, concurrency: options.concurrency ?? 8 }))
  progress.end()
  return { chunks, checked, bytes, bad, flaky, ...(cold && { cold }) }
}

type Counts = Pick<VerifyProgress, 'listed' | 'checked' | 'bytes'>

function progressReporter(
  options: VerifyOptions,
  counts: () => Counts,
): { at(hex: string): void; end(): void } {
  const started = performance.now()
  const every = options.progressMs ?? 1000
  let last = -Infinity
  let fraction = 0
  const emit = (): void => {
    const elapsed = (performance.now() - started) / 1000
    const etaSeconds = fraction > 0 && fraction < 1 ? (elapsed * (1 - fraction)) / fraction : undefined
    options.onProgress?.({ ...counts(), fraction, etaSeconds: fraction >= 1 ? 0 : etaSeconds })
  }
  return {
    at(hex) {
      if (options.onProgress === undefined) return
      fraction = Number.parseInt(hex.slice(0, 8), 16) / 2 ** 32
      if (performance.now() - last < every) return
      last = performance.now()
      emit()
    },
    end() {
      fraction = 1
      emit()
    },
  }
}
