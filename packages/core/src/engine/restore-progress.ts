// Progress of a restored disk in bytes of the disk: a restore writes only the non-zero chunks (zeros
// become holes, or absent VHD blocks), so counting the bytes sent would show a 32 MiB disk restored as
// "2 KiB at 27 KiB/s". The targets report bytes written in disk order; this maps them to how far into
// the disk the restore is, and keeps the data written and the zeros skipped apart, as facts.
import { planDiskVhd } from '../disks/index.js'
import type { DiskReader } from '../repository/index.js'
import type { TaskContext } from '../shared/index.js'

export interface RestoreFacts {
  /** The disk's size: what the rate counts. */
  readonly size: number
  /** Bytes of the non-zero chunks, read from the repository and written. */
  readonly dataBytes: number
  /** Bytes of zero chunks, never read nor written. */
  readonly zeroBytes: number
}

export interface DiskProgress {
  readonly facts: RestoreFacts
  /** For a target's progress callback: bytes it wrote so far (raw data, or the VHD stream). */
  readonly onWritten: (written: number) => void
  /** The disk is done: progress at its size, and the facts. */
  finish(): void
}

export function diskProgress(task: TaskContext, reader: DiskReader, format: 'raw' | 'vhd'): DiskProgress {
  const size = reader.size
  const chunks = [...reader.nonZeroChunks()]
  const dataBytes = chunks.reduce((n, c) => n + reader.chunkLength(c), 0)
  const facts = { size, dataBytes, zeroBytes: size - dataBytes }
  const position = format === 'raw' ? rawPosition(reader, chunks) : vhdPosition(reader)
  return {
    facts,
    onWritten: (written) => task.progress({ done: Math.min(size, position(written)), total: size }),
    finish: () => {
      task.progress({ done: size, total: size })
      task.set({ ...facts })
    },
  }
}

/** Raw targets write the non-zero chunks in order: after k of them, the disk is done up to the k-th's end. */
function rawPosition(reader: DiskReader, chunks: readonly number[]): (written: number) => number {
  const ends: number[] = [] // bytes written once chunk k is
  let sum = 0
  for (const c of chunks) ends.push((sum += reader.chunkLength(c)))
  return (written) => {
    const k = upperBound(ends, written) // chunks wholly written
    if (k >= chunks.length) return reader.size
    const before = k === 0 ? 0 : ends[k - 1]!
    return chunks[k]! * reader.chunkSize + (written - before)
  }
}

/**
 * A VHD stream is its head (footer copy, header, BAT), then each present block (bitmap and data, all of
 * one length) in disk order, then the footer: after k blocks, the disk is done up to the k-th's end.
 */
function vhdPosition(reader: DiskReader): (written: number) => number {
  const plan = planDiskVhd(reader)
  const blocks = plan.blockIndexes
  const blockSize = plan.header.blockSize
  const head = plan.head.length
  const perBlock = blocks.length === 0 ? 1 : (plan.length - head - 512) / blocks.length
  return (written) => {
    if (written >= plan.length) return reader.size
    const k = Math.floor(Math.max(0, written - head) / perBlock)
    if (k >= blocks.length) return reader.size
    return k === 0 ? 0 : (blocks[k - 1]! + 1) * blockSize
  }
}

/** The number of values ≤ x in an ascending array. */
function upperBound(values: readonly number[], x: number): number {
  let lo = 0
  let hi = values.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (values[mid]! <= x) lo = mid + 1
    else hi = mid
  }
  return lo
}
