// verify of the cold tier: reads and authenticates its chunks (or the same random sample as hot). A copy
// that fails twice is marked bad (bad/<id>), so that the next backup that holds its bytes stores the
// chunk hot again instead of trusting its base; a hot copy then serves reads, and the next move replaces
// the cold copy (it verifies what is there before it deletes from hot). Cold copies are not quarantined:
// the bytes stay where they are for an admin to look at.
import { randomInt } from 'node:crypto'
import { Semaphore, errorMessage } from '../shared/index.js'
import { isNotFound, type ObjectStore } from '../storage/index.js'
import { isCorruption } from './quarantine.js'
import type { Repository } from './repository.js'
import { PREFIX_CHUNKS } from './format/constants.js'
import { chunkIdOfKey, chunkKey } from './format/layout.js'

export interface ColdVerifyResult {
  readonly chunks: number
  readonly checked: number
  readonly bytes: number
  readonly bad: readonly { readonly id: string; readonly reason: string }[]
}

export async function verifyCold(
  repo: Repository,
  cold: ObjectStore,
  options: { sample: number; concurrency: number; dryRun?: boolean; signal?: AbortSignal },
): Promise<ColdVerifyResult> {
  const { signal } = options
  const limit = new Semaphore(options.concurrency)
  const running = new Set<Promise<void>>()
  const counts = { chunks: 0, checked: 0, bytes: 0 }
  const bad: { id: string; reason: string }[] = []
  let failure: unknown
  const problem = async (hex: string): Promise<string | undefined> => {
    try {
      const stored = await cold.getRange(chunkKey(hex), 0, repo.storedChunkMax, { signal })
      counts.bytes += stored.length
      await repo.decodeChunkInto(hex, stored, new Uint8Array(repo.chunkSize))
      return undefined
    } catch (error) {
      if (isNotFound(error)) return undefined // a GC took it since the listing
      if (isCorruption(error)) return `${errorMessage(error)} (its copy in the cold tier '${cold.name}')`
      throw error
    }
  }
  const one = async (hex: string): Promise<void> => {
    counts.checked++
    if ((await problem(hex)) === undefined) return
    const reason = await problem(hex) // a bad read must not condemn a good copy
    if (reason === undefined) return
    bad.push({ id: hex, reason })
    if (!options.dryRun) await repo.markBad(hex, reason, signal)
  }
  for await (const info of cold.list(PREFIX_CHUNKS, { signal })) {
    const hex = chunkIdOfKey(info.key)
    if (hex === undefined) continue
    counts.chunks++
    if (options.sample < 1 && randomInt(1_000_000) >= options.sample * 1_000_000) continue
    await limit.acquire(signal)
    if (failure !== undefined) break
    const p: Promise<void> = one(hex)
      .catch((error: unknown) => void (failure ??= error))
      .finally(() => {
        running.delete(p)
        limit.release()
      })
    running.add(p)
  }
  await Promise.all(running)
  if (failure !== undefined) throw failure
  return { ...counts, bad }
}
