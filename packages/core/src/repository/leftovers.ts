// Leftovers of killed writers: temp files of a local store, unfinished multipart uploads on S3. They are
// not objects (nothing lists or reads them) but they hold space, and on S3 cost money until aborted.
// `repo gc` removes those older than its safety margin (younger ones may be puts in flight in another
// process) and `repo gc --dry-run` lists them. The store walks them as a stream: a repository of
// millions of objects is never listed whole into memory.
import { throwIfAborted } from '../shared/index.js'
import type { Repository } from './repository.js'

/** Leftovers younger than this are spared by default (puts in flight), as GC spares young chunks. */
export const DEFAULT_LEFTOVER_AGE_MS = 3_600_000

export interface LeftoverOptions {
  /** Only leftovers older than this (default DEFAULT_LEFTOVER_AGE_MS). */
  readonly olderThanMs?: number
  /** List them only. */
  readonly dryRun?: boolean
  /** Names kept for the report (the count covers them all). Default 1000. */
  readonly keepNames?: number
  readonly signal?: AbortSignal
}

export interface LeftoverResult {
  /** Leftovers found (dry run) or removed. */
  readonly count: number
  /** Bytes they hold, where the store knows (local temp files). */
  readonly bytes: number
  /** The first `keepNames` names, in walk order (dry run only). */
  readonly names: readonly string[]
}

export async function cleanLeftovers(
  repo: Repository,
  options: LeftoverOptions = {},
): Promise<LeftoverResult> {
  const { signal } = options
  const olderThanMs = options.olderThanMs ?? DEFAULT_LEFTOVER_AGE_MS
  throwIfAborted(signal)
  if (options.dryRun !== true) {
    const count = (await repo.store.removeIncomplete?.(olderThanMs, { signal })) ?? 0
    return { count, bytes: 0, names: [] }
  }
  const keep = options.keepNames ?? 1000
  const names: string[] = []
  let count = 0
  let bytes = 0
  for await (const leftover of repo.store.listIncomplete?.(olderThanMs, { signal }) ?? []) {
    count++
    bytes += leftover.size ?? 0
    if (names.length < keep) names.push(leftover.name)
  }
  return { count, bytes, names }
}
