// NBD: a pure codec (codec/), a client (connection, pool) that reads fast and verifies TLS peers, and a
// server with two profiles: 'xapi' (exactly what XAPI's xapi-nbd offers, for the lab) and 'full'
// (GO, structured replies, block status, writes through a copy-on-write overlay) for instant restore.
export * from './errors.js'
export type { Extent } from './codec/extent.js'
export { mergeExtents } from './codec/extent.js'
export { BASE_ALLOCATION, STATE_DIRTY, STATE_HOLE, STATE_ZERO, TFlag } from './codec/constants.js'
export type { ExportInfo } from './codec/handshake.js'
export type { NbdTlsOptions } from './tls-options.js'
export type { Endpoint } from './client/transport.js'
export type { Negotiated } from './client/client-handshake.js'
export { NbdConnection, type NbdConnectionOptions } from './client/connection.js'
export {
  NbdClient,
  DEFAULT_CONNECTIONS,
  DEFAULT_IN_FLIGHT,
  DEFAULT_REQUEST_SIZE,
  MAX_WHOLE_RANGE,
  type ByteRange,
  type NbdClientOptions,
  type ReadOptions,
  type ReadPiece,
} from './client/client.js'
export {
  staticExports,
  type BlockSource,
  type ExportResolver,
  type ResolvedExport,
} from './server/block-source.js'
export { FileBlockSource } from './server/file-source.js'
export { readAllocationMap, type AllocatedRun } from './server/allocation-map.js'
export {
  NbdServer,
  type NbdListenOptions,
  type NbdServerOptions,
  type NbdServerTls,
  type NbdServerTransport,
} from './server/server.js'
export type { NbdProfileName } from './server/profile.js'
export { CowOverlay } from './server/cow-overlay.js'
export { copyToFile, NULL_OUTPUT, type CopyOptions, type CopyResult } from './client/copy.js'
export { parseNbdUri, type NbdUri } from './client/uri.js'
