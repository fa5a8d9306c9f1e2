// One socket to an NBD server (TCP or unix), upgraded in place by STARTTLS. Received bytes go to a
// Receiver. On plain sockets Node's `onread` lets the receiver hand out the buffer each read lands in,
// so READ payloads go from the kernel straight into the caller's buffer. After STARTTLS the same read
// path is switched on by hand where Node allows it (user-buffer.ts); otherwise TLS delivers chunks.
import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'
import { AbortedError } from '../../shared/errors.js'
import { NbdError } from '../errors.js'
import { tlsConnectOptions, verifyPeer, type NbdTlsOptions } from '../tls-options.js'
import { readIntoUserBuffers } from './user-buffer.js'

export interface Receiver {
  receiveBuffer(): Buffer
  /** `n` bytes were read into the start of `buffer` (one that receiveBuffer() returned, maybe earlier). */
  received(n: number, buffer: Buffer): void
  consume(chunk: Buffer): void
}

export interface Endpoint {
  host?: string
  port?: number
  /** A unix socket path; takes precedence over host/port. */
  socketPath?: string
}

export const describeEndpoint = (e: Endpoint): string =>
  e.socketPath !== undefined ? `unix:${e.socketPath}` : `${e.host ?? 'localhost'}:${e.port ?? 10809}`

export class Transport {
  receiver: Receiver
  /** Reads land in receiver buffers (always on plain sockets; on TLS when Node allows it). */
  userBuffers: boolean
  #socket: Socket
  /** After STARTTLS, try the user-buffer read path (user-buffer.ts); false keeps 'data' events. */
  #tlsUserBuffers = true
  #closed: Error | undefined
  #onClose: ((error: Error) => void)[] = []

  private constructor(socket: Socket, receiver: Receiver) {
    this.#socket = socket
    this.receiver = receiver
    this.userBuffers = false
  }

  /** Connects; `direct` (no TLS to come) enables reads straight into receiver buffers. */
  static connect(
    endpoint: Endpoint,
    receiver: Receiver,
    options: { direct: boolean; timeoutMs: number; tlsUserBuffers?: boolean; signal?: AbortSignal },
  ): Promise<Transport> {
    const where = describeEndpoint(endpoint)
    return new Promise((resolve, reject) => {
      if (options.signal?.aborted) return reject(new AbortedError(options.signal.reason))
      const holder: { transport?: Transport } = {}
      const onread = options.direct
        ? {
            buffer: () => (holder.transport?.receiver ?? receiver).receiveBuffer(),
            callback: (n: number, buffer: Uint8Array) => (
              holder.transport!.#received(n, buffer as Buffer),
              true
            ),
          }
        : undefined
      const socket =
        endpoint.socketPath !== undefined
          ? netConnect({ path: endpoint.socketPath, onread })
          : netConnect({
              host: endpoint.host ?? 'localhost',
              port: endpoint.port ?? 10809,
              noDelay: true,
              onread,
            })
      const transport = new Transport(socket, receiver)
      transport.#tlsUserBuffers = options.tlsUserBuffers !== false
      holder.transport = transport
      const fail = (error: Error): void => {
        cleanup()
        socket.destroy()
        reject(error)
      }
      const onError = (cause: Error): void =>
        fail(
          new NbdError('NBD_CONNECT_FAILED', `cannot connect to NBD server ${where}: ${cause.message}`, {
            cause,
            retryable: true,
          }),
        )
      const onAbort = (): void => fail(new AbortedError(options.signal?.reason))
      const timer = setTimeout(
        () =>
          fail(
            new NbdError('NBD_TIMEOUT', `connecting to NBD server ${where} timed out`, { retryable: true }),
          ),
        options.timeoutMs,
      )
      const cleanup = (): void => {
        clearTimeout(timer)
        socket.off('error', onError)
        options.signal?.removeEventListener('abort', onAbort)
      }
      options.signal?.addEventListener('abort', onAbort, { once: true })
      socket.once('error', onError)
      socket.once('connect', () => {
        cleanup()
        transport.userBuffers = options.direct
        transport.#attach(socket, !options.direct)
        resolve(transport)
      })
    })
  }

  get closed(): boolean {
    return this.#closed !== undefined
  }

  write(b: Buffer): void {
    if (this.#closed === undefined) this.#socket.write(b)
  }

  onClose(listener: (error: Error) => void): void {
    if (this.#closed !== undefined) listener(this.#closed)
    else this.#onClose.push(listener)
  }

  destroy(error: Error = new NbdError('NBD_CONNECTION_CLOSED', 'connection closed')): void {
    this.#close(error)
    this.#socket.destroy()
  }

  /** Politely ends the connection once the written bytes are flushed. */
  end(): void {
    this.#socket.end()
  }

  /** STARTTLS was acknowledged: runs the TLS handshake on the same socket and checks the peer. */
  async startTls(
    tls: NbdTlsOptions,
    host: string | undefined,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<void> {
    const raw = this.#socket
    raw.removeAllListeners('data')
    const socket = tlsConnect({ ...tlsConnectOptions(tls, host), socket: raw })
    await new Promise<void>((resolve, reject) => {
      const fail = (cause: Error): void => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        reject(
          cause instanceof AbortedError || cause instanceof NbdError
            ? cause
            : new NbdError('NBD_TLS', `TLS handshake failed: ${cause.message}`, { cause }),
        )
      }
      const onAbort = (): void => fail(new AbortedError(signal?.reason))
      const timer = setTimeout(
        () => fail(new NbdError('NBD_TIMEOUT', 'TLS handshake timed out', { retryable: true })),
        timeoutMs,
      )
      signal?.addEventListener('abort', onAbort, { once: true })
      socket.once('error', fail)
      socket.once('secureConnect', () => {
        socket.off('error', fail)
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        try {
          verifyPeer(socket as TLSSocket, tls, host)
          resolve()
        } catch (error) {
          reject(error)
        }
      })
    }).catch((error: unknown) => {
      socket.destroy()
      throw error
    })
    this.#socket = socket
    this.userBuffers = readIntoUserBuffers(
      socket,
      () => this.receiver.receiveBuffer(),
      (n, buffer) => this.#received(n, buffer),
      { enabled: this.#tlsUserBuffers },
    )
    this.#attach(socket, true)
  }

  #attach(socket: Socket, chunks: boolean): void {
    if (chunks) socket.on('data', (chunk: Buffer) => this.#consume(chunk))
    socket.on('error', (cause) =>
      this.#close(
        new NbdError('NBD_CONNECTION_CLOSED', `connection failed: ${cause.message}`, {
          cause,
          retryable: true,
        }),
      ),
    )
    socket.on('close', () =>
      this.#close(
        new NbdError('NBD_CONNECTION_CLOSED', 'the server closed the connection', { retryable: true }),
      ),
    )
  }

  #received(n: number, buffer: Buffer): void {
    try {
      this.receiver.received(n, buffer)
    } catch (error) {
      this.destroy(error as Error)
    }
  }

  #consume(chunk: Buffer): void {
    try {
      this.receiver.consume(chunk)
    } catch (error) {
      this.destroy(error as Error)
    }
  }

  #close(error: Error): void {
    if (this.#closed !== undefined) return
    this.#closed = error
    for (const listener of this.#onClose.splice(0)) listener(error)
  }
}
