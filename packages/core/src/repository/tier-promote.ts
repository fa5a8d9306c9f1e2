// The rule for chunks a new backup references again (docs/repository-format.md, "Cold tier"): a backup's
// dedup check looks only at hot, so a chunk it stores is written hot again; a chunk an incremental backup
// reuses from its base index without looking stays where it is, and the next move copies it back to hot
// (promotes it), verified first. The cold copy stays while points reference it: a later move of the
// same chunk then costs no copy, and GC removes it with the last point that needs it.
import { isNotFound, StorageError } from '../storage/index.js'
import type { MarkSet } from './mark-set.js'
import type { Repository } from './repository.js'
import { chunkKey } from './format/layout.js'
import { PREFIX_TIERED, idOfTieredKey } from './format/tier.js'
import { requireColdStore } from './tier.js'

/** Copies back to hot every located chunk that `young` marks and hot lacks; resolves to how many. */
export async function promoteYoung(repo: Repository, young: MarkSet, signal?: AbortSignal): Promise<number> {
  const cold = requireColdStore(repo)
  let promoted = 0
  for await (const info of repo.store.list(PREFIX_TIERED, { signal })) {
    const hex = idOfTieredKey(info.key)
    if (hex === undefined || !young.mayContain(Buffer.from(hex, 'hex'))) continue
    const key = chunkKey(hex)
    if ((await repo.store.stat(key, { signal })) !== undefined) continue
    let bytes: Uint8Array
    try {
      bytes = await cold.getRange(key, 0, repo.storedChunkMax, { signal })
    } catch (error) {
      if (isNotFound(error)) continue // check reports it if a point needs it
      throw error
    }
    // Authenticated before it goes hot: a damaged cold copy must not replace nothing with garbage.
    await repo.decodeChunkInto(hex, Uint8Array.from(bytes), new Uint8Array(repo.chunkSize))
    try {
      await repo.store.put(key, bytes, { ifNoneMatch: true, retain: repo.retention(), signal })
      promoted++
    } catch (error) {
      if (!(error instanceof StorageError && error.code === 'ALREADY_EXISTS')) throw error
    }
  }
  return promoted
}
