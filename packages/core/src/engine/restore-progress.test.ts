import { describe, expect, it } from 'vitest'
import { PointWriter, Repository } from '../repository/index.js'
import { sharedMemory } from '../shared/index.js'
import { MemoryStore } from '../storage/index.js'
import { scratchDir } from '../testing/index.js'
import { runRootTask, type TaskEvent } from './task-tree.js'
import { restoreDiskToFile } from './vm-restore.js'

const CHUNK = 512 * 1024
const SIZE = 16 * CHUNK

describe('restore progress', () => {
  it('counts the bytes of the disk, zeros included as they are passed, for raw and VHD files', async () => {
    const repo = await Repository.create(new MemoryStore('progress'), { chunkSize: CHUNK })
    const writer = await PointWriter.begin(repo, { vm: 'vm' })
    const disk = writer.openDisk('xvda', SIZE)
    for (const i of [1, 5, 6]) await disk.putChunk(i, Buffer.alloc(CHUNK, i))
    const { pointId } = await writer.commit()
    await using dir = await scratchDir()
    const lent = () => sharedMemory.stats.made - sharedMemory.stats.free
    const lentBefore = lent()
    for (const format of ['raw', 'vhd'] as const) {
      const events: TaskEvent[] = []
      const result = await runRootTask(
        { emit: (e) => events.push(e), signal: new AbortController().signal, progressIntervalMs: 0 },
        'restore',
        (task) =>
          restoreDiskToFile(task, {
            repository: repo,
            pointId,
            disk: 0,
            path: dir.path(`d.${format}`),
            format,
          }),
      )
      expect(result).toMatchObject({ size: SIZE, dataBytes: 3 * CHUNK, zeroBytes: 13 * CHUNK })
      expect(lent()).toBe(lentBefore) // the reader closed: the chunks it cached are given back
      const done = events.flatMap((e) => (e.type === 'progress' ? [e.done] : []))
      expect(done.at(-1)).toBe(SIZE)
      expect(done.every((d, i) => d <= SIZE && (i === 0 || d >= done[i - 1]!))).toBe(true)
      expect(events.every((e) => e.type !== 'progress' || e.total === SIZE)).toBe(true)
      if (format === 'raw') expect(done.slice(0, 3)).toEqual([5 * CHUNK, 6 * CHUNK, SIZE]) // after chunks 1, 5, 6
      expect(events.find((e) => e.type === 'set')).toMatchObject({
        data: { size: SIZE, dataBytes: 3 * CHUNK, zeroBytes: 13 * CHUNK },
      })
    }
  })
})
