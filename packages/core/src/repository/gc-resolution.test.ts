import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { MemoryStore, type CallOptions, type ObjectInfo } from '../storage/index.js'
import { Repository } from './repository.js'
import { PointWriter } from './point-writer.js'
import { collectGarbage } from './gc.js'
import { checkRepository } from './check.js'
import { PREFIX_CHUNKS, PREFIX_GC } from './format/constants.js'
import { restoreDisk } from './testing/fixtures.js'

const CHUNK = 512 * 1024
const STEP_MS = 10_000
const timing = { leaseMs: 60_000, heartbeatMs: 10_000, batchMs: 1, pollMs: 2, checkWindowMs: 2_000 }

/**
 * A store that keeps coarse times and says so, as the probe finds them on an SMB share (1 s) or FAT (2 s);
 * coarser still, so that the test has time to write within one step of it on a loaded machine.
 */
class SecondsStore extends MemoryStore {
  override readonly capabilities = {
    conditionalCreate: true,
    listAfterWriteConsistent: true,
    fileSystem: {
      type: 'cifs',
      remote: true,
      caseSensitive: true,
      hardLinks: false,
      exclusiveCreate: true,
      timestampResolutionMs: STEP_MS,
    },
  }

  override async *list(prefix: string, options?: CallOptions): AsyncGenerator<ObjectInfo> {
    for await (const info of super.list(prefix, options))
      yield {
        ...info,
        modified: info.modified && new Date(Math.floor(info.modified.getTime() / STEP_MS) * STEP_MS),
      }
  }
}

describe('GC on a store that keeps coarse times', () => {
  it('keeps a chunk a backup created within the time step in which the GC started', async () => {
    const store = new SecondsStore('seconds')
    const repo = await Repository.create(store, { chunkSize: CHUNK })
    // GC starts early in a step, so that the backup's chunk is written within the same step: listed as
    // older than the GC's start, though it is younger.
    while (Date.now() % STEP_MS < 50 || Date.now() % STEP_MS > 2_000) await sleep(10)
    // GC waits at its first announcement until the backup has stored its chunk and, listing the
    // announcements, found none: the backup then needs no second look (its chunk is younger than GC).
    let atAnnouncement = false
    let checked!: () => void
    const chunkChecked = new Promise<void>((resolve) => (checked = resolve))
    const put = store.put.bind(store)
    let chunkStored = false
    store.put = async (key, data, options) => {
      if (key.startsWith(PREFIX_GC) && !atAnnouncement) {
        atAnnouncement = true
        await chunkChecked
      }
      await put(key, data, options)
      if (key.startsWith(PREFIX_CHUNKS)) chunkStored = true
    }
    // The backup lists them when its session opens, then to check the chunk it stored.
    const list = store.list.bind(store)
    store.list = (prefix, options) =>
      prefix !== PREFIX_GC
        ? list(prefix, options)
        : (async function* () {
            const afterChunk = chunkStored
            yield* list(prefix, options)
            if (afterChunk) checked()
          })()
    const gc = collectGarbage(repo, { timing, safetyMarginMs: 0 })
    while (!atAnnouncement) await sleep(1)
    const point = await PointWriter.begin(repo, { vm: 'vm-1', metadata: {}, timing })
    const disk = randomBytes(CHUNK)
    await point.openDisk('xvda', disk.length).putChunk(0, disk)
    const result = await gc
    const committed = await point.commit()
    expect(result.chunksDeleted).toBe(0)
    expect((await checkRepository(repo)).problems).toEqual([])
    expect((await restoreDisk(repo, committed)).equals(disk)).toBe(true)
  })
})
