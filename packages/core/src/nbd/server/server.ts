// The NBD server: listens on TCP (port 0 = ephemeral) or a unix socket, runs one session per connection
// (negotiation, then transmission), enforces the profile's connection limit the way xapi-nbd does
// (accept, then close), and offers a fault hook that drops the connections of an export.
import { once } from 'node:events'
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { createSecureContext } from 'node:tls'
import type { ExportResolver } from './block-source.js'
import { Peer } from './peer.js'
import { negotiateServer, type NegotiationContext } from './negotiation.js'
import { PROFILES, type NbdProfileName } from './profile.js'
import { serveTransmission } from './transmission.js'

export interface NbdServerTls {
  /** PEM certificate (chain) and key the server presents after STARTTLS. TLS is then required. */
  cert: string
  key: string
  /** PEM CA: when given, clients must present a certificate it signed. */
  ca?: string
}

export type NbdServerTransport = 'tls' | 'clear' | 'refuse'

export interface NbdServerOptions {
  /** 'xapi' behaves like XAPI's xapi-nbd; 'full' (default) offers GO, structured replies, block status. */
  profile?: NbdProfileName
  resolve: ExportResolver
  /** Names answered to NBD_OPT_LIST (full profile); without it the listing is refused. */
  listExports?: () => string[]
  tls?: NbdServerTls
  /**
   * Asked at each new connection, as xapi-nbd asks xapi (from the networks' NBD purposes): 'tls'
   * (STARTTLS required; needs `tls`), 'clear' (no TLS offered) or 'refuse' (closed without a word).
   * Default: 'tls' when `tls` is given, else 'clear'.
   */
  transport?: () => NbdServerTransport
  /** Default: 16 for 'xapi' (like xapi-nbd), 64 for 'full'. */
  maxConnections?: number
  /** Time allowed for the handshake (options, TLS). Default 30 s. */
  handshakeTimeoutMs?: number
  /** Called with errors that ended a connection abnormally (for logs). */
  onConnectionError?: (error: unknown) => void
}

export interface NbdListenOptions {
  host?: string
  /** 0 (default) picks a free port. */
  port?: number
  /** Listen on a unix socket instead of TCP. */
  path?: string
}

interface Connection {
  readonly peer: Peer
  exportName: string | undefined
  readonly abort: AbortController
}

export class NbdServer {
  readonly #server: Server
  readonly #options: NbdServerOptions
  readonly #connections = new Set<Connection>()
  readonly #context: Omit<NegotiationContext, 'signal'>
  readonly #maxConnections: number

  private constructor(server: Server, options: NbdServerOptions) {
    this.#server = server
    this.#options = options
    const profile = PROFILES[options.profile ?? 'full']
    this.#maxConnections = options.maxConnections ?? profile.maxConnections
    this.#context = {
      profile,
      resolve: options.resolve,
      listExports: options.listExports,
      timeoutMs: options.handshakeTimeoutMs ?? 30_000,
      tls:
        options.tls === undefined
          ? undefined
          : {
              context: createSecureContext({
                cert: options.tls.cert,
                key: options.tls.key,
                ca: options.tls.ca,
              }),
              requestCert: options.tls.ca !== undefined,
            },
    }
    server.on('connection', (socket) => this.#accept(socket))
  }

  static async listen(options: NbdServerOptions, where: NbdListenOptions = {}): Promise<NbdServer> {
    const server = createServer()
    const nbd = new NbdServer(server, options)
    if (where.path !== undefined) server.listen(where.path)
    else server.listen(where.port ?? 0, where.host ?? '127.0.0.1')
    await Promise.race([once(server, 'listening'), once(server, 'error').then(([e]) => Promise.reject(e))])
    return nbd
  }

  get profile(): NbdProfileName {
    return this.#context.profile.name
  }

  /** The TCP port listened on (undefined on a unix socket). */
  get port(): number | undefined {
    const address = this.#server.address()
    return typeof address === 'object' && address !== null ? (address as AddressInfo).port : undefined
  }

  get address(): string {
    const address = this.#server.address()
    return typeof address === 'string' ? address : `${address?.address}:${address?.port}`
  }

  /** An nbd URI for an export of this server (as nbdinfo/nbdcopy/qemu understand it). */
  uri(exportName = ''): string {
    const scheme = this.#options.tls === undefined ? 'nbd' : 'nbds'
    const address = this.#server.address()
    if (typeof address === 'string')
      return `${scheme}+unix:///${encodeURIComponent(exportName)}?socket=${address}`
    const host = address?.family === 'IPv6' ? `[${address.address}]` : address?.address
    return `${scheme}://${host}:${address?.port}/${encodeURIComponent(exportName)}`
  }

  /** Open connections, optionally only those serving `exportName`. */
  connectionCount(exportName?: string): number {
    return [...this.#connections].filter((c) => exportName === undefined || c.exportName === exportName)
      .length
  }

  /** Fault hook: cuts every connection serving `exportName` (all connections when omitted). */
  dropConnections(exportName?: string): number {
    let dropped = 0
    for (const c of this.#connections) {
      if (exportName !== undefined && c.exportName !== exportName) continue
      c.abort.abort(new Error('connection dropped on request'))
      c.peer.destroy()
      dropped++
    }
    return dropped
  }

  /** Stops listening and ends every connection. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()))
    this.dropConnections()
    await closed
  }

  #accept(socket: Socket): void {
    if (this.#connections.size >= this.#maxConnections) {
      socket.destroy() // xapi-nbd accepts the 17th connection and closes it at once
      return
    }
    const connection: Connection = {
      peer: new Peer(socket),
      exportName: undefined,
      abort: new AbortController(),
    }
    this.#connections.add(connection)
    this.#run(connection)
      .catch((error: unknown) => this.#options.onConnectionError?.(error))
      .finally(() => {
        this.#connections.delete(connection)
        connection.abort.abort()
        connection.peer.destroy()
      })
  }

  async #run(connection: Connection): Promise<void> {
    const { peer, abort } = connection
    const transport = this.#options.transport?.() ?? (this.#context.tls === undefined ? 'clear' : 'tls')
    if (transport === 'refuse' || (transport === 'tls' && this.#context.tls === undefined)) return
    const context = transport === 'tls' ? this.#context : { ...this.#context, tls: undefined }
    // A plain timer: Node 20 may collect an AbortSignal.timeout() that only AbortSignal.any() refers to.
    const deadline = new AbortController()
    const timer = setTimeout(() => deadline.abort(new Error('handshake timed out')), this.#context.timeoutMs)
    let session
    try {
      session = await negotiateServer(peer, {
        ...context,
        signal: AbortSignal.any([abort.signal, deadline.signal]),
      })
    } catch (error) {
      if (isHangup(error)) return
      throw error
    } finally {
      clearTimeout(timer)
    }
    if (session === undefined) return
    connection.exportName = session.name
    try {
      await serveTransmission(peer, session, context.profile, abort.signal)
    } catch (error) {
      if (!isHangup(error)) throw error
    } finally {
      await session.resolved.release?.()
    }
  }
}

/** The client went away or the connection was dropped on purpose: not worth reporting. */
function isHangup(error: unknown): boolean {
  const code = (error as { code?: string }).code
  return code === 'NBD_CONNECTION_CLOSED' || code === 'NBD_SHORT_REPLY' || code === 'ABORTED'
}
