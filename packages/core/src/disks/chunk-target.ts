// What copyDisk pumps a disk source into: the repository writers of a backup (ChunkSink) or a VDI being
// written through XAPI (VdiImportSink). A target names its chunk size and the chunks it needs whatever
// the source knows; it may ask for each planned list in order and to be told the list before the bytes.

export interface ChunkTarget {
  readonly chunkSize: number
  readonly chunkCount: number
  /** Bytes of the disk being written. */
  readonly size: number
  /** Bytes of chunks stored with their data so far (holes not counted). */
  readonly bytesRead: number
  /** The target streams chunks into one ordered format: the source delivers each list ascending. */
  readonly ordered?: boolean
  /** The target writes over the base's state: it takes changed chunks in parts (putParts). */
  readonly partial?: boolean
  chunkLength(index: number): number
  /** Chunks that must be delivered even if unchanged (bad chunks, a resized tail). */
  needed(): number[]
  /** A source announced `bytes` more to read. */
  expect(bytes: number): void
  /**
   * A source named the chunks it is about to deliver (ascending), before their bytes, and of those it
   * delivers in parts (putParts) the byte ranges.
   */
  plan?(
    indexes: readonly number[],
    parts?: ReadonlyMap<number, readonly { offset: number; length: number }[]>,
  ): void
  /** Stores chunk `index`; `data` may be reused once this resolves. */
  put(index: number, data: Uint8Array, signal?: AbortSignal): Promise<void>
  /**
   * Only these parts of chunk `index` changed (a `partial` target); their bytes may be reused once this
   * resolves.
   */
  putParts?(
    index: number,
    parts: readonly { offset: number; bytes: Uint8Array }[],
    signal?: AbortSignal,
  ): Promise<void>
  /** Chunk `index` reads as zeros. */
  putZero(index: number, signal?: AbortSignal): Promise<void>
}
