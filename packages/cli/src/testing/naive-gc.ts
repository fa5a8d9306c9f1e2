// A GC without sweep announcements, for tests only: what the repository's GC would be without its
// protocol for borrowed chunks (docs/repository-format.md, "Concurrency: GC without a lock"). It marks
// every disk index, keeps chunks written after min(its start, the oldest running backup's start), and
// deletes the rest. The test of several hosts runs it to show that its scenario does lose chunks when
// that protocol is missing: a backup finds a chunk that retention just made garbage, and this GC, which
// marked before the backup found it, deletes it. `markToSweepMs` stands for the time the mark phase of
// a large repository takes (minutes for thousands of points): the window in which that happens.
import { setTimeout as sleep } from 'node:timers/promises'
import type { Repository } from '@strata/core/repository'
import type { ObjectStore } from '@strata/core/storage'
import { readDiskIndex } from '@strata/core/repository'

const ID_BYTES = 32

/** One pass; returns how many chunks it deleted. */
export async function naiveGcPass(
  repo: Repository,
  markToSweepMs: number,
  signal?: AbortSignal,
): Promise<number> {
  const start = Date.now()
  let cutoff = start
  for await (const info of repo.store.list('sessions/', { signal }))
    if (info.key.endsWith('/open') && info.modified !== undefined)
      cutoff = Math.min(cutoff, info.modified.getTime())
  const marked = new Set<string>()
  for await (const info of repo.store.list('points/', { signal })) {
    if (!/\/disk-\d+$/.test(info.key)) continue
    const ids = await readDiskIndex(repo, info.key, signal).then(
      (index) => index.ids,
      () => undefined, // deleted since the listing: its point is being forgotten
    )
    for (let o = 0; ids !== undefined && o < ids.length; o += ID_BYTES)
      marked.add(Buffer.from(ids.subarray(o, o + ID_BYTES)).toString('hex'))
  }
  await sleep(markToSweepMs, undefined, { signal })
  let deleted = 0
  for await (const info of repo.store.list('chunks/', { signal })) {
    const id = info.key.slice(info.key.lastIndexOf('/') + 1)
    if (marked.has(id) || (info.modified?.getTime() ?? Infinity) >= cutoff) continue
    await repo.store.delete(info.key, { signal })
    deleted++
  }
  return deleted
}

/**
 * The store a GC under test uses, whose first put under `gc/` (the real GC's first sweep announcement,
 * published right after its mark phase) waits `markToSweepMs` first: the real GC given the same slow
 * mark phase as naiveGcPass.
 */
export function withSlowMark(store: ObjectStore, markToSweepMs: number): ObjectStore {
  let waited = false
  const put: ObjectStore['put'] = async (key, data, options) => {
    if (key.startsWith('gc/') && !waited) {
      waited = true
      await sleep(markToSweepMs, undefined, { signal: options?.signal })
    }
    return store.put(key, data, options)
  }
  // Methods run on the store itself: its private fields are not the proxy's.
  return new Proxy(store, {
    get: (target, name) => {
      if (name === 'put') return put
      const value = Reflect.get(target, name, target) as unknown
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value
    },
  })
}
