// What `check` needs of the cold tier: which chunks have a cold copy and a locator. A referenced chunk
// missing from hot is sound only with both (the mover writes the locator once the copy authenticated).
import { PREFIX_CHUNKS } from './format/constants.js'
import { chunkIdOfKey } from './format/layout.js'
import { PREFIX_TIERED, idOfTieredKey } from './format/tier.js'
import type { Repository } from './repository.js'

export interface ColdIds {
  /** Hex ids with a copy in the cold store. */
  readonly present: ReadonlySet<string>
  /** Why a chunk missing from hot is not sound, or undefined if it is. */
  problem(hex: string): string | undefined
}

/** Undefined without a cold tier: every chunk missing from hot is then just missing. */
export async function coldChunkIds(repo: Repository, signal?: AbortSignal): Promise<ColdIds | undefined> {
  if (repo.cold === undefined) return undefined
  const { tier, store: cold } = repo.cold
  if (cold === undefined)
    return {
      present: new Set(),
      problem: () => `missing from hot, and the cold tier '${tier.cold}' is not open`,
    }
  const present = new Set<string>()
  for await (const info of cold.list(PREFIX_CHUNKS, { signal })) {
    const hex = chunkIdOfKey(info.key)
    if (hex !== undefined) present.add(hex)
  }
  const located = new Set<string>()
  for await (const info of repo.store.list(PREFIX_TIERED, { signal })) {
    const hex = idOfTieredKey(info.key)
    if (hex !== undefined) located.add(hex)
  }
  return {
    present,
    problem: (hex) =>
      !present.has(hex)
        ? located.has(hex)
          ? `missing from hot and from the cold tier '${cold.name}' (its locator is there)`
          : 'missing'
        : located.has(hex)
          ? undefined
          : `missing from hot; in the cold tier '${cold.name}' without its locator`,
  }
}
