// Reading a chunk the hot store lacks from the cold tier: the mover deletes a hot copy only once its cold
// copy authenticated and its locator is written, so a hot miss is looked up in cold.
import { isNotFound, type ObjectStore } from '../storage/index.js'
import { RepositoryError } from './errors.js'
import { chunkKey } from './format/layout.js'
import type { TierConfig } from './format/tier.js'
import type { Repository } from './repository.js'
import { TierError } from './tier-errors.js'

export interface AttachedTier {
  readonly tier: TierConfig
  readonly store?: ObjectStore
  /** Why the cold store did not open. */
  readonly error?: unknown
}

export async function readColdChunk(
  repo: Repository,
  attached: AttachedTier,
  idHex: string,
  signal?: AbortSignal,
  into?: Uint8Array,
): Promise<Uint8Array> {
  const cold = attached.store
  if (cold === undefined)
    throw new TierError(
      'TIER_UNAVAILABLE',
      `${repo.describeChunk(idHex)} is not in the hot store and the cold tier '${attached.tier.cold}' is not open`,
      { cause: attached.error, retryable: true },
    )
  try {
    const bytes = await cold.getRange(chunkKey(idHex), 0, repo.storedChunkMax, { signal, into })
    repo.tierReads.coldBytes += bytes.length
    repo.tierReads.coldChunks++
    return bytes
  } catch (error) {
    if (isNotFound(error))
      throw new RepositoryError(
        'CHUNK_MISSING',
        `${repo.describeChunk(idHex)} is missing (from hot, and from the cold tier '${cold.name}')`,
      )
    throw error
  }
}
