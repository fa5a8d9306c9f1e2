// A chain of 120 deltas over a key VHD (mixed gzip and brotli VhdDirectories): listed with its length
// and restored byte for byte at its end and in its middle, by a loop, not by recursion.
import { describe, expect, it } from 'vitest'
import { MemoryStore } from '../storage/index.js'
import { listRemote, storeFiles, XoRemote } from './index.js'
import { buildLongChain, LONG_VM } from './testing/long-chain.js'
import { restorePoint } from './testing/read-back.js'
import { storeSink } from './testing/remote-builder.js'

describe('a chain of 120 deltas', () => {
  it('lists and restores every point asked for, byte for byte', async () => {
    const store = new MemoryStore()
    const { ids, images } = await buildLongChain(storeSink(store), 120)
    const listing = await listRemote(await XoRemote.open(storeFiles(store)))
    const points = listing.points.filter((p) => p.vm === LONG_VM)
    expect(points.map((p) => p.id)).toEqual(ids)
    expect(points.map((p) => p.disks[0]!.chainLength)).toEqual(ids.map((_, n) => n + 1))
    for (const n of [120, 61, 0]) {
      const [raw] = await restorePoint(storeFiles(store), ids[n]!, 1)
      expect(raw!.equals(images[n]!), `point ${n}`).toBe(true)
    }
  }, 120_000)
})
