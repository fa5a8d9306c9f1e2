// Chunks that fail verification are moved aside, not deleted: a read that failed twice may still have
// been the network's or a cache's fault, and a deleted chunk is lost for every point that refers to it.
// Objects are created once, so the move is a copy under quarantine/<64 hex id> (create-only: the first
// copy stays) and then a delete of the chunk; the bad/<id> marker is written first, so that writers
// stop trusting the chunk even if the move stops halfway. Quarantined copies stay until
// `strata repo gc --purge-quarantine`.
import { isNotFound, StorageError } from '../storage/index.js'
import { errorCode, sharedMemory } from '../shared/index.js'
import type { Repository } from './repository.js'
import { chunkKey } from './format/layout.js'

export const PREFIX_QUARANTINE = 'quarantine/'

export const quarantineKey = (idHex: string): string => `${PREFIX_QUARANTINE}${idHex}`

/** What became of a chunk sent to quarantine. */
export type QuarantineOutcome =
  /** Copied under quarantine/ and removed from chunks/. */
  | 'quarantined'
  /** Read back sound this time: left in place (the earlier failures were the reads'). */
  | 'sound'
  /** Not there (already moved, or deleted by GC). */
  | 'absent'

/**
 * Marks the chunk bad, then moves it to quarantine if it still fails to read back. `reason` is kept in
 * the marker. A sound chunk keeps its marker: the caller decides (verify clears it).
 */
export async function quarantineChunk(
  repo: Repository,
  idHex: string,
  reason: string,
  signal?: AbortSignal,
): Promise<QuarantineOutcome> {
  await repo.markBad(idHex, reason, signal)
  const key = chunkKey(idHex)
  const stored = await getIfPresent(repo, key, signal)
  if (stored === undefined) return 'absent'
  if (await decodes(repo, idHex, stored)) return 'sound'
  try {
    await repo.store.put(quarantineKey(idHex), stored, { ifNoneMatch: true, signal })
  } catch (error) {
    if (!(error instanceof StorageError && error.code === 'ALREADY_EXISTS')) throw error
  }
  // Only the copy just read goes: different bytes are a fresh copy a backup stored meanwhile.
  const now = await getIfPresent(repo, key, signal)
  if (now !== undefined && Buffer.from(now).equals(stored)) await repo.store.delete(key, { signal })
  return 'quarantined'
}

/** Whether the stored chunk reads back and authenticates; false if it is corrupt or absent. */
export async function chunkIsSound(repo: Repository, idHex: string, signal?: AbortSignal): Promise<boolean> {
  const stored = await getIfPresent(repo, chunkKey(idHex), signal)
  return stored !== undefined && (await decodes(repo, idHex, stored))
}

/** Deletes every quarantined copy (a dry run only counts them); returns how many. */
export async function purgeQuarantine(
  repo: Repository,
  { dryRun = false, signal }: { dryRun?: boolean; signal?: AbortSignal } = {},
): Promise<number> {
  let purged = 0
  for await (const info of repo.store.list(PREFIX_QUARANTINE, { signal })) {
    if (!dryRun) await repo.store.delete(info.key, { signal })
    purged++
  }
  return purged
}

async function decodes(repo: Repository, idHex: string, stored: Uint8Array): Promise<boolean> {
  try {
    // A copy (a Buffer's slice() would be a view): decoding hands its input over to a worker thread.
    const copy = new Uint8Array(stored)
    const out = sharedMemory.take(repo.chunkSize)
    try {
      await repo.decodeChunkInto(idHex, copy, out)
    } finally {
      sharedMemory.give(out)
    }
    return true
  } catch (error) {
    if (isCorruption(error)) return false
    throw error
  }
}

/** A chunk's bytes that fail authentication, or whose envelope no version of this format wrote. */
export function isCorruption(error: unknown): boolean {
  const code = errorCode(error)
  return code === 'CORRUPT_OBJECT' || code === 'UNSUPPORTED_VERSION'
}

async function getIfPresent(
  repo: Repository,
  key: string,
  signal?: AbortSignal,
): Promise<Uint8Array | undefined> {
  try {
    return await repo.store.get(key, { signal })
  } catch (error) {
    if (isNotFound(error)) return undefined
    throw error
  }
}
