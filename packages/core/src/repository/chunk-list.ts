// The ids of a repository's stored chunks, streamed in id order (the store lists in key order, and a
// chunk's key is its id behind its first two hex digits): what a merge against a sorted list needs.
import { RepositoryError } from './errors.js'
import type { Repository } from './repository.js'
import { PREFIX_CHUNKS } from './format/constants.js'
import { chunkIdOfKey } from './format/layout.js'

/** Hex ids of the stored chunks starting with `hexPrefix` (none, one or two hex digits), in id order. */
export async function* listChunkIds(
  repo: Repository,
  hexPrefix = '',
  signal?: AbortSignal,
): AsyncGenerator<string> {
  if (!/^[0-9a-f]{0,2}$/.test(hexPrefix))
    throw new RepositoryError('INVALID_ARGUMENT', `'${hexPrefix}' is not a chunk id prefix`)
  const prefix = hexPrefix.length === 2 ? `${PREFIX_CHUNKS}${hexPrefix}/` : `${PREFIX_CHUNKS}${hexPrefix}`
  for await (const info of repo.store.list(prefix, { signal })) {
    const id = chunkIdOfKey(info.key)
    if (id !== undefined) yield id
  }
}
