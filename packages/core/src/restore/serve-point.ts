// Serves one disk of a restore point over NBD (the server's 'full' profile: structured replies,
// base:allocation, several connections), read-only or writable through a copy-on-write overlay held in
// memory: whatever a client writes, the repository is never touched.
import {
  CowOverlay,
  NbdServer,
  staticExports,
  type BlockSource,
  type NbdListenOptions,
  type NbdServerTls,
} from '../nbd/index.js'
import { DiskReader, formatPointRef, type PointRef, type Repository } from '../repository/index.js'
import { PointBlockSource, type PointSourceOptions } from './point-source.js'

export interface ServePointOptions extends PointSourceOptions {
  readonly repository: Repository
  readonly ref: PointRef
  readonly disk: number
  /** Writes go to an overlay in memory (default false: a read-only export). */
  readonly writable?: boolean
  readonly exportName?: string
  readonly tls?: NbdServerTls
  readonly listen: NbdListenOptions
  readonly maxConnections?: number
  readonly onConnectionError?: (error: unknown) => void
  readonly signal?: AbortSignal
}

export interface ServedPoint {
  readonly uri: string
  readonly server: NbdServer
  readonly size: number
  /** The disk's name in the restore point (e.g. 'xvda'). */
  readonly diskName: string
  readonly point: string
  /** Bytes the overlay holds (0 when read-only). */
  readonly overlayBytes: number
  /** Stops listening, ends the connections, frees the cache and the overlay. */
  close(): Promise<void>
}

export async function servePoint(options: ServePointOptions): Promise<ServedPoint> {
  const reader = await DiskReader.open(options.repository, options.ref, options.disk, options.signal)
  const base = new PointBlockSource(reader, options)
  const overlay = options.writable === true ? new CowOverlay(base) : undefined
  const source: BlockSource = overlay ?? base
  const name = options.exportName ?? ''
  let server: NbdServer
  try {
    server = await NbdServer.listen(
      {
        profile: 'full',
        resolve: staticExports({ [name]: source }),
        listExports: () => [name],
        tls: options.tls,
        maxConnections: options.maxConnections,
        onConnectionError: options.onConnectionError,
      },
      options.listen,
    )
  } catch (error) {
    base.close()
    reader.close()
    throw error
  }
  return {
    uri: server.uri(name),
    server,
    size: reader.size,
    diskName: reader.name,
    point: formatPointRef(options.ref),
    get overlayBytes() {
      return overlay?.overlayBytes ?? 0
    },
    async close() {
      await server.close()
      base.close()
      reader.close() // its cache's memory goes back to the process's shared memory
    },
  }
}
