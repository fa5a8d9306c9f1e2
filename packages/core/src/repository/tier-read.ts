// Reading a chunk the hot store lacks from the cold tier: the mover deletes a hot copy only once its cold
// copy authenticated and its locator is written, so a hot miss is looked up in cold.
import { isNotFound, type ObjectStore } from '../storage/index.js'
import { RepositoryError } from './errors.js'
import { chunkKey } from './format/layout.js'
import type { TierConfig } from './format/tier.js'
import { TierError } from './tier-errors.js'

export interface AttachedTier {
  readonly tier: TierConfig
  readonly store?: ObjectStore
  /** Why the cold store did not open. */
  readonly error?: unknown
}

/** Stored bytes read per tier since the repository was opened (a restore reports them). */
export interface TierReads {
  hotBytes: number
  coldBytes: number
  coldChunks: number
}

/** `what` names the chunk for messages; `max` is the longest a stored chunk can be. */
export async function readColdChunk(
  attached: AttachedTier,
  chunk: { readonly idHex: string; readonly what: string; readonly max: number },
  reads: TierReads,
  signal?: AbortSignal,
  into?: Uint8Array,
): Promise<Uint8Array> {
  const cold = attached.store
  if (cold === undefined)
    throw new TierError(
      'TIER_UNAVAILABLE',
      `${chunk.what} is not in the hot store and the cold tier '${attached.tier.cold}' is not open`,
      { cause: attached.error, retryable: true },
    )
  try {
    const bytes = await cold.getRange(chunkKey(chunk.idHex), 0, chunk.max, { signal, into })
    reads.coldBytes += bytes.length
    reads.coldChunks++
    return bytes
  } catch (error) {
    if (isNotFound(error))
      throw new RepositoryError(
        'CHUNK_MISSING',
        `${chunk.what} is missing (from hot, and from the cold tier '${cold.name}')`,
      )
    throw error
  }
}
