// Reads chunks of a VDI snapshot over NBD: endpoint from VDI.get_nbd_info, TLS pinned to the
// certificate XAPI returned, several connections with many reads in flight.
import { NbdClient } from '../nbd/index.js'
import { BufferPool } from '../shared/index.js'
import { getNbdInfo, type Ref, type XapiClient } from '../xapi/index.js'
import type { ChunkSink } from './chunk-sink.js'
import { DiskError } from './errors.js'

export interface NbdSourceOptions {
  readonly connections?: number
  readonly inFlight?: number
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
      connections: options.connections ?? 2,
      inFlight: options.inFlight ?? 16,
      allocator: new BufferPool({ shared: true }),
    },
    options.signal,
  )
}

/**
 * Reads `chunks` (indexes) over NBD into the sink. Each chunk is one piece, read by as many requests as
 * the server's limit needs straight into one buffer of the client's allocator (shared memory: the
 * repository's workers hash and encode it where the socket put it), then stored and released.
 */
export async function readChunksOverNbd(
  client: NbdClient,
  sink: ChunkSink,
  chunks: readonly number[],
  signal?: AbortSignal,
): Promise<void> {
  if (client.size < sink.size) {
    throw new DiskError('DISK_SOURCE_INVALID', `NBD export has ${client.size} bytes, expected ${sink.size}`)
  }
  const { chunkSize } = sink
  const ranges = chunks.map((i) => ({ offset: i * chunkSize, length: sink.chunkLength(i) }))
  const pending = new Set<Promise<void>>()
  for await (const piece of client.readRanges(ranges, { ordered: false, whole: true, signal })) {
    const index = piece.offset / chunkSize
    const put = sink.put(index, piece.bytes, signal).finally(() => {
      pending.delete(put)
      piece.release()
    })
    pending.add(put)
    put.catch(() => {}) // observed below
    // Bound memory: the NBD window already limits reads; writers limit uploads per disk.
    if (pending.size >= 16) await Promise.race(pending)
  }
  await Promise.all(pending)
}
