// Reads chunks of a VDI snapshot over NBD: endpoint from VDI.get_nbd_info, TLS pinned to the
// certificate XAPI returned, several connections with many reads in flight. Each chunk is read whole
// (by as many requests as the server's limit needs) into one buffer in shared memory: the repository's
// workers hash and encode it where the socket put it, with no reassembly copy and no staging copy.
import { NbdClient } from '../nbd/index.js'
import { BufferPool } from '../shared/index.js'
import { getNbdInfo, type Ref, type XapiClient } from '../xapi/index.js'
import type { DiskChunk } from './disk-source.js'

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

/** The chunks `list` of a disk read over NBD, each whole, as they arrive (or in the list's order). */
export async function* nbdChunks(
  client: NbdClient,
  list: readonly number[],
  chunkSize: number,
  size: number,
  signal: AbortSignal,
  ordered = false,
): AsyncGenerator<DiskChunk> {
  const ranges = list.map((i) => ({
    offset: i * chunkSize,
    length: Math.min(chunkSize, size - i * chunkSize),
  }))
  for await (const piece of client.readRanges(ranges, { ordered, whole: true, signal })) {
    yield { index: piece.offset / chunkSize, lease: piece }
  }
}
