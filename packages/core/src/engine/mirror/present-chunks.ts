// Which of a disk's chunks the target already holds, when both repositories name chunks alike (both
// plain, or one key): the disk's ids sorted, walked beside the target's own sorted listing of the same
// chunks/<hh>/ prefixes. Memory: four bytes per chunk of the disk (its index already costs 32), never a
// set of the target's ids, however many it holds.
import { ID_LENGTH, listChunkIds, type DiskReader, type Repository } from '../../repository/index.js'

/** Indexes of `candidates` (chunks of `reader`) whose id the target lists, in no particular order. */
export async function presentChunks(
  target: Repository,
  reader: DiskReader,
  candidates: readonly number[],
  signal?: AbortSignal,
): Promise<number[]> {
  const ids = reader.index.ids
  const idOf = (i: number): Uint8Array => ids.subarray(i * ID_LENGTH, (i + 1) * ID_LENGTH)
  const order = Uint32Array.from(candidates).sort((a, b) => Buffer.compare(idOf(a), idOf(b)))
  const present: number[] = []
  let next = 0
  while (next < order.length) {
    signal?.throwIfAborted()
    const prefix = Buffer.from(idOf(order[next]!)).toString('hex').slice(0, 2)
    let end = next
    while (end < order.length && Buffer.from(idOf(order[end]!)).toString('hex').startsWith(prefix)) end++
    await mergePrefix(target, prefix, order.subarray(next, end), idOf, present, signal)
    next = end
  }
  return present
}

/** One chunks/<hh>/ listing merged with the candidates of that prefix (sorted by id). */
async function mergePrefix(
  target: Repository,
  prefix: string,
  sorted: Uint32Array,
  idOf: (i: number) => Uint8Array,
  present: number[],
  signal?: AbortSignal,
): Promise<void> {
  let k = 0
  for await (const hex of listChunkIds(target, prefix, signal)) {
    const listed = Buffer.from(hex, 'hex')
    while (k < sorted.length && Buffer.compare(idOf(sorted[k]!), listed) < 0) k++
    while (k < sorted.length && Buffer.compare(idOf(sorted[k]!), listed) === 0) present.push(sorted[k++]!)
    if (k === sorted.length) return
  }
}
