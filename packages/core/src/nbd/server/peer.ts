// The server's end of one connection: a byte queue fed by the socket, writes, and the STARTTLS upgrade.
import type { Socket } from 'node:net'
import { TLSSocket, type SecureContext } from 'node:tls'
import { ByteQueue } from '../byte-queue.js'
import { NbdError } from '../errors.js'

export class Peer {
  readonly queue = new ByteQueue()
  #socket: Socket
  readonly #onData = (chunk: Buffer): void => this.queue.consume(chunk)

  constructor(readonly raw: Socket) {
    this.#socket = raw
    raw.setNoDelay(true)
    this.#listen(raw)
  }

  get socket(): Socket {
    return this.#socket
  }

  write(b: Buffer | Uint8Array): boolean {
    return this.#socket.write(b)
  }

  /** Header and payload leave in one writev, never interleaved with another reply. */
  writeAll(parts: (Buffer | Uint8Array)[], written?: () => void): boolean {
    const socket = this.#socket
    socket.cork()
    let ok = true
    parts.forEach((p, i) => (ok = socket.write(p, i === parts.length - 1 ? written : undefined) && ok))
    socket.uncork()
    return ok
  }

  drain(): Promise<void> {
    const socket = this.#socket
    if (!socket.writableNeedDrain) return Promise.resolve()
    return new Promise((resolve) => {
      const done = (): void => {
        socket.off('drain', done)
        socket.off('close', done)
        resolve()
      }
      socket.on('drain', done)
      socket.on('close', done)
    })
  }

  destroy(): void {
    this.#socket.destroy()
    this.raw.destroy()
  }

  async startTls(
    context: SecureContext,
    options: { requestCert: boolean; timeoutMs: number },
  ): Promise<void> {
    this.raw.off('data', this.#onData)
    const tls = new TLSSocket(this.raw, {
      isServer: true,
      secureContext: context,
      requestCert: options.requestCert,
      rejectUnauthorized: options.requestCert,
    })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new NbdError('NBD_TIMEOUT', 'TLS handshake timed out')),
        options.timeoutMs,
      )
      tls.once('secure', () => (clearTimeout(timer), resolve()))
      tls.once(
        'error',
        (cause) => (
          clearTimeout(timer),
          reject(new NbdError('NBD_TLS', `TLS handshake failed: ${cause.message}`, { cause }))
        ),
      )
    })
    this.#socket = tls
    this.#listen(tls)
  }

  #listen(socket: Socket): void {
    socket.on('data', this.#onData)
    socket.on('error', () => {}) // reported through 'close'
    socket.on('close', () =>
      this.queue.end(new NbdError('NBD_CONNECTION_CLOSED', 'the client closed the connection')),
    )
  }
}
