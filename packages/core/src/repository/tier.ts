// The cold tier's record (format/tier.ts): added once by `strata repo tier add`, read and authenticated
// at every open, and the cold store attached to the repository so that chunk reads fall back to it.
// The cold store's location holds no credentials: they come from the same environment as the hot one's.
import { timingSafeEqual } from 'node:crypto'
import { isNotFound, StorageError, type ObjectStore } from '../storage/index.js'
import { encodeJson, JsonReader } from './format/json.js'
import {
  KEY_COLD_OWNER,
  KEY_TIER,
  MAX_TIER_BYTES,
  canonicalTierInput,
  checkTierConfig,
  decodeTier,
  encodeTier,
  type TierConfig,
} from './format/tier.js'
import { KEY_CONFIG } from './format/constants.js'
import { configChanged, readBounded } from './key-ring.js'
import type { Repository } from './repository.js'
import { TierError } from './tier-errors.js'

/** Records `cold` as the repository's cold tier (create-only: a second `tier add` is TIER_EXISTS). */
export async function addTier(
  repo: Repository,
  tier: Omit<TierConfig, 'added'>,
  cold: ObjectStore,
  signal?: AbortSignal,
): Promise<TierConfig> {
  const record = checkTierConfig({ ...tier, added: new Date().toISOString() }, `cold tier of '${repo.name}'`)
  if ((await repo.store.stat(KEY_TIER, { signal })) !== undefined)
    throw new TierError('TIER_EXISTS', `repository '${repo.name}' has a cold tier already`)
  await claimColdStore(repo, cold, signal)
  const bytes = encodeTier(record, repo.tierMac(canonicalTierInput(repo.config.id, record)))
  try {
    await repo.store.put(KEY_TIER, bytes, { ifNoneMatch: true, signal })
  } catch (error) {
    if (error instanceof StorageError && error.code === 'ALREADY_EXISTS')
      throw new TierError('TIER_EXISTS', `repository '${repo.name}' has a cold tier already`, {
        cause: error,
      })
    throw error
  }
  return record
}

/**
 * The cold store must be neither a repository nor another repository's cold tier: each GC deletes what
 * its own points do not reference. The owner record is written before the tier record, so a crash in
 * between leaves a claim that the same repository takes up again.
 */
async function claimColdStore(repo: Repository, cold: ObjectStore, signal?: AbortSignal): Promise<void> {
  if (cold.name === repo.store.name || (await cold.stat(KEY_CONFIG, { signal })) !== undefined)
    throw new TierError(
      'TIER_IN_USE',
      `'${cold.name}' holds a repository: a cold tier needs a store of its own`,
    )
  const owner = await coldOwner(cold, signal)
  if (owner !== undefined && owner !== repo.config.id)
    throw new TierError('TIER_IN_USE', `'${cold.name}' is the cold tier of repository ${owner}`)
  if (owner !== undefined) return
  const record = encodeJson({ version: 1, repository: repo.config.id })
  await cold.put(KEY_COLD_OWNER, record, { ifNoneMatch: true, signal }).catch(async (error: unknown) => {
    if (!(error instanceof StorageError && error.code === 'ALREADY_EXISTS')) throw error
    if ((await coldOwner(cold, signal)) !== repo.config.id)
      throw new TierError('TIER_IN_USE', `'${cold.name}' was claimed by another repository meanwhile`)
  })
}

async function coldOwner(cold: ObjectStore, signal?: AbortSignal): Promise<string | undefined> {
  try {
    const bytes = await readBounded(
      cold,
      KEY_COLD_OWNER,
      MAX_TIER_BYTES,
      `'${KEY_COLD_OWNER}' of '${cold.name}'`,
      signal,
    )
    return JsonReader.parse(bytes, `'${KEY_COLD_OWNER}' of '${cold.name}'`).string('repository')
  } catch (error) {
    if (isNotFound(error)) return undefined
    throw error
  }
}

/**
 * The repository's tier record, authenticated in an encrypted repository (a record without the MAC, or
 * with another, is REPOSITORY_CONFIG_CHANGED: someone without the key edited it); undefined if none.
 */
export async function readTier(repo: Repository, signal?: AbortSignal): Promise<TierConfig | undefined> {
  let bytes: Uint8Array
  try {
    bytes = await readBounded(
      repo.store,
      KEY_TIER,
      MAX_TIER_BYTES,
      `cold tier record of '${repo.name}'`,
      signal,
    )
  } catch (error) {
    if (isNotFound(error)) return undefined
    throw error
  }
  const { tier, mac } = decodeTier(bytes, `cold tier record of '${repo.name}'`)
  const expected = repo.tierMac(canonicalTierInput(repo.config.id, tier))
  if (expected !== undefined && (mac === undefined || !timingSafeEqual(mac, expected)))
    throw configChanged(repo.name, 'its cold tier record does not authenticate')
  return tier
}

/**
 * Reads the tier record and attaches the cold store `open` gives. A cold store that does not open is
 * no reason to refuse the repository (young points restore without it): reads that need it then fail
 * with TIER_UNAVAILABLE, whose cause is this error.
 */
export async function attachColdTier(
  repo: Repository,
  open: (location: string) => Promise<ObjectStore>,
  signal?: AbortSignal,
): Promise<TierConfig | undefined> {
  const tier = await readTier(repo, signal)
  if (tier === undefined) return undefined
  try {
    repo.attachTier({ tier, store: await open(tier.cold) })
  } catch (error) {
    if (signal?.aborted) throw error
    repo.attachTier({ tier, error })
  }
  return tier
}

/** The cold store of a repository that must have one (the mover, promotion). */
export function requireColdStore(repo: Repository): ObjectStore {
  const cold = repo.cold
  if (cold?.store !== undefined) return cold.store
  if (cold === undefined)
    throw new TierError('NO_TIER', `repository '${repo.name}' has no cold tier (strata repo tier add)`)
  throw new TierError(
    'TIER_UNAVAILABLE',
    `the cold tier '${cold.tier.cold}' of '${repo.name}' did not open`,
    {
      cause: cold.error,
      retryable: true,
    },
  )
}
