// Reads chunks of a VDI snapshot over NBD: endpoint from VDI.get_nbd_info, TLS pinned to the
// certificate XAPI returned, several connections with many reads in flight. Each chunk is read whole
// (by as many requests as the server's limit needs) into one buffer in shared memory: the repository's
// workers hash and encode it where the socket put it, with no reassembly copy and no staging copy. A
// consumer that writes over the base's state (a replica's clone) is given only the changed runs of a
// chunk when CBT names them, each read into a buffer of its own.
import { NbdClient } from '../nbd/index.js'
import { BufferPool } from '../shared/index.js'
import { getNbdInfo, type BlockExtent, type Ref, type XapiClient } from '../xapi/index.js'
import type { ChunkPart, DiskChunk } from './disk-source.js'

export interface NbdSourceOptions {
  readonly connections?: number
  readonly inFlight?: number
  /** Over TLS, read straight into chunk buffers where Node allows it (default true; see nbd/). */
  readonly tlsDirectReads?: boolean
  readonly signal?: AbortSignal
}

/**
 * Opens an NBD client on a VDI, or returns undefined when the pool offers no NBD network (the caller
 * falls back to the VHD stream). The caller closes the client.
 */
export async function openVdiNbd(
  xapi: XapiClient,
  vdi: Ref,
  options: NbdSourceOptions = {},
): Promise<NbdClient | undefined> {
  const infos = await getNbdInfo(xapi, vdi, options.signal)
  const info = infos[0]
  if (info === undefined) return undefined
  // An empty certificate means a clear-text `insecure_nbd` network: no TLS to pin.
  const tls = info.cert === '' ? undefined : { pinnedCertificate: info.cert, servername: info.subject }
  return NbdClient.open(
    {
      host: info.address,
      port: info.port,
      exportName: info.exportname,
      tls,
      connections: options.connections,
      inFlight: options.inFlight,
      tlsDirectReads: options.tlsDirectReads,
      allocator: new BufferPool({ shared: true }),
    },
    options.signal,
  )
}

/**
 * The chunks `list` of a disk read over NBD, each whole, as they arrive (or in the list's order); of the
 * chunks in `parts`, only those byte ranges are read, and the chunk is delivered in parts.
 */
export async function* nbdChunks(
  client: NbdClient,
  list: readonly number[],
  chunkSize: number,
  size: number,
  signal: AbortSignal,
  ordered = false,
  parts?: ReadonlyMap<number, readonly BlockExtent[]>,
): AsyncGenerator<DiskChunk> {
  const ranges: { offset: number; length: number }[] = []
  for (const index of list) {
    const start = index * chunkSize
    for (const e of parts?.get(index) ?? [{ offset: 0, length: Math.min(chunkSize, size - start) }])
      ranges.push({ offset: start + e.offset, length: e.length })
  }
  // Pieces come in the order of the ranges (ordered) or as they complete: a chunk in parts is yielded
  // once its last part is in (a part lies inside its chunk: the chunk is the piece's offset's).
  const pending = new Map<number, ChunkPart[]>()
  try {
    for await (const piece of client.readRanges(ranges, { ordered, whole: true, signal })) {
      const index = Math.floor(piece.offset / chunkSize)
      const extents = parts?.get(index)
      if (extents === undefined) {
        yield { index, lease: piece }
        continue
      }
      const got = pending.get(index) ?? []
      got.push({ offset: piece.offset - index * chunkSize, lease: piece })
      if (got.length < extents.length) {
        pending.set(index, got)
        continue
      }
      pending.delete(index)
      yield { index, lease: undefined, parts: got.sort((a, b) => a.offset - b.offset) }
    }
  } finally {
    for (const got of pending.values()) for (const p of got) p.lease.release()
  }
}
