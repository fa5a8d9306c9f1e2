// One negotiated NBD connection: pipelined requests matched to replies by handle, a watchdog that
// declares the server dead when requests wait and nothing arrives, and typed errors. Reconnecting and
// retrying belong to the pool above; a connection that failed stays failed.
import { AbortedError } from '../../shared/errors.js'
import { ByteQueue } from '../byte-queue.js'
import { negotiate, type Negotiated } from './client-handshake.js'
import { NbdError } from '../errors.js'
import { describeEndpoint, Transport, type Endpoint } from './transport.js'
import type { NbdTlsOptions } from '../tls-options.js'
import {
  BASE_ALLOCATION,
  Cmd,
  DEFAULT_MAX_PAYLOAD,
  Errno,
  errnoName,
  REQUEST_SIZE,
} from '../codec/constants.js'
import type { Extent } from '../codec/extent.js'
import { ReplyDecoder, type InFlight } from '../codec/reply-decoder.js'
import { encodeRequest, type Request } from '../codec/transmission.js'

export interface NbdConnectionOptions extends Endpoint {
  exportName?: string
  tls?: NbdTlsOptions
  /** Ask for structured replies (needed for block status). Default true. */
  structuredReplies?: boolean
  /** Metadata contexts to negotiate, e.g. 'qemu:dirty-bitmap:bm0'. Default ['base:allocation']. */
  metaContexts?: readonly string[]
  connectTimeoutMs?: number
  /** Requests waiting with no byte received for this long mean a dead server. Default 60 s. */
  requestTimeoutMs?: number
  /**
   * Over TLS, read replies straight into request buffers through Node internals where the feature test
   * passes (client/user-buffer.ts). Default true; false keeps 'data' events (A/B runs, diagnostics).
   */
  tlsDirectReads?: boolean
}

interface Pending extends InFlight {
  resolve: (value: InFlight) => void
  reject: (error: unknown) => void
  abandoned: boolean
}

/** Server errors that a new attempt may not repeat (EIO from a flaky disk, a server shutting down). */
const TRANSIENT_ERRNOS = new Set<number>([Errno.EIO, Errno.ESHUTDOWN, Errno.ENOMEM])

export class NbdConnection {
  readonly info: Negotiated
  readonly #transport: Transport
  readonly #decoder: ReplyDecoder
  readonly #pending = new Map<number, Pending>()
  readonly #where: string
  #nextHandle = 1
  #received = 0
  #failed: Error | undefined
  #watchdog: NodeJS.Timeout | undefined

  private constructor(transport: Transport, info: Negotiated, where: string, timeoutMs: number) {
    this.info = info
    this.#transport = transport
    this.#where = where
    this.#decoder = new ReplyDecoder(
      { lookup: (h) => this.#pending.get(h), complete: (r) => this.#complete(r as Pending) },
      { structured: info.structuredReplies },
    )
    const decoder = this.#decoder
    transport.receiver = {
      receiveBuffer: () => decoder.receiveBuffer(),
      received: (n, buffer) => ((this.#received += n), decoder.received(n, buffer)),
      consume: (chunk) => ((this.#received += chunk.length), decoder.consume(chunk)),
    }
    transport.onClose((error) => this.#fail(error))
    this.#startWatchdog(timeoutMs)
  }

  static async connect(options: NbdConnectionOptions, signal?: AbortSignal): Promise<NbdConnection> {
    const timeoutMs = options.connectTimeoutMs ?? 30_000
    const where = `NBD export '${options.exportName ?? ''}' on ${describeEndpoint(options)}`
    const queue = new ByteQueue()
    const transport = await Transport.connect(options, queue, {
      direct: options.tls === undefined,
      tlsUserBuffers: options.tlsDirectReads,
      timeoutMs,
      signal,
    })
    transport.onClose((error) => queue.end(error))
    // A plain timer: Node 20 may collect an AbortSignal.timeout() that only AbortSignal.any() refers to.
    const deadline = new AbortController()
    const timer = setTimeout(() => deadline.abort(new Error('negotiation timed out')), timeoutMs)
    const combined = signal === undefined ? deadline.signal : AbortSignal.any([signal, deadline.signal])
    try {
      const info = await negotiate(
        transport,
        queue,
        {
          exportName: options.exportName ?? '',
          tls: options.tls,
          host: options.socketPath === undefined ? (options.host ?? 'localhost') : undefined,
          structuredReplies: options.structuredReplies ?? true,
          metaContexts: options.metaContexts ?? [BASE_ALLOCATION],
          timeoutMs,
        },
        combined,
      )
      return new NbdConnection(transport, info, where, options.requestTimeoutMs ?? 60_000)
    } catch (error) {
      transport.destroy()
      if (error instanceof AbortedError && deadline.signal.aborted && !signal?.aborted) {
        throw new NbdError('NBD_TIMEOUT', `negotiation with ${where} timed out`, { retryable: true })
      }
      throw error
    } finally {
      clearTimeout(timer)
    }
  }

  get size(): number {
    return this.info.size
  }

  /** The largest request the server accepts. */
  get maxRequest(): number {
    return Math.min(this.info.maximumBlockSize ?? DEFAULT_MAX_PAYLOAD, DEFAULT_MAX_PAYLOAD)
  }

  /** Replies are read straight into request buffers (plain sockets; TLS where Node allows it). */
  get directReads(): boolean {
    return this.#transport.userBuffers
  }

  get inFlight(): number {
    return this.#pending.size
  }

  get failed(): Error | undefined {
    return this.#failed
  }

  onClose(listener: (error: Error) => void): void {
    this.#transport.onClose(listener)
  }

  /** Reads `length` bytes at `offset` into a new buffer (or `into`, which must be `length` bytes). */
  async read(offset: number, length: number, signal?: AbortSignal, into?: Buffer): Promise<Buffer> {
    this.#check(offset, length, 'read', this.maxRequest)
    const data = into ?? Buffer.allocUnsafe(length)
    await this.#request(Cmd.READ, offset, length, signal, data)
    return data
  }

  /** Extents of a metadata context (default base:allocation) from `offset`, covering at most `length`. */
  async blockStatus(
    offset: number,
    length: number,
    context = BASE_ALLOCATION,
    signal?: AbortSignal,
  ): Promise<Extent[]> {
    const id = this.info.contexts.get(context)
    if (id === undefined) {
      throw new NbdError('NBD_UNSUPPORTED', `${this.#where} does not offer metadata context '${context}'`)
    }
    this.#check(offset, length, 'block status', 2 ** 32 - 1)
    const done = await this.#request(Cmd.BLOCK_STATUS, offset, length, signal)
    const extents = done.extents.get(id)
    if (extents === undefined || extents.length === 0) {
      throw new NbdError('NBD_PROTOCOL', `${this.#where} sent no extents for '${context}' at ${offset}`)
    }
    const end = Math.min(offset + length, this.size)
    if (extents[extents.length - 1]!.offset + extents[extents.length - 1]!.length > this.size) {
      throw new NbdError('NBD_OVERSIZED_REPLY', `${this.#where} described extents past the end of the export`)
    }
    // The last extent may reach past the request; callers want only what they asked about.
    return extents
      .filter((e) => e.offset < end)
      .map((e) => (e.offset + e.length > end ? { ...e, length: end - e.offset } : e))
  }

  /** Waits for requests in flight, says goodbye (NBD_CMD_DISC) and closes. */
  async close(): Promise<void> {
    // Requests whose callers gave up are not waited for; the watchdog bounds the wait for the others.
    if ([...this.#pending.values()].some((p) => !p.abandoned)) {
      await new Promise<void>((resolve) => this.#drainWaiters.push(resolve))
    }
    this.#stopWatchdog()
    if (this.#transport.closed) return
    this.#flush() // requests given up on go out before the goodbye, as they were queued
    this.#transport.write(encodeRequest({ flags: 0, type: Cmd.DISC, handle: 0, offset: 0, length: 0 }))
    this.#transport.end()
    const timer = setTimeout(() => this.#transport.destroy(), 1000)
    await new Promise((resolve) => this.#transport.onClose(resolve))
    clearTimeout(timer)
  }

  destroy(error?: Error): void {
    this.#transport.destroy(error)
  }

  #check(offset: number, length: number, what: string, max: number): void {
    if (this.#failed !== undefined) throw this.#failed
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length <= 0) {
      throw new NbdError('NBD_INVALID_ARGUMENT', `${what} of ${length} bytes at ${offset} on ${this.#where}`)
    }
    if (offset + length > this.size || length > max) {
      throw new NbdError(
        'NBD_INVALID_ARGUMENT',
        `${what} of ${length} bytes at ${offset} is beyond ${this.#where} (size ${this.size}, max request ${max})`,
      )
    }
  }

  #request(
    command: number,
    offset: number,
    length: number,
    signal: AbortSignal | undefined,
    data?: Buffer,
  ): Promise<InFlight> {
    if (signal?.aborted) return Promise.reject(new AbortedError(signal.reason))
    const handle = this.#nextHandle++
    return new Promise<InFlight>((resolve, reject) => {
      const pending: Pending = {
        handle,
        command,
        offset,
        length,
        data,
        extents: new Map(),
        resolve,
        reject,
        abandoned: false,
      }
      if (signal !== undefined) {
        // The reply will still come and be matched; only the caller stops waiting.
        const onAbort = (): void => {
          pending.abandoned = true
          reject(new AbortedError(signal.reason))
        }
        signal.addEventListener('abort', onAbort, { once: true })
        pending.resolve = (v) => (signal.removeEventListener('abort', onAbort), resolve(v))
        pending.reject = (e) => (signal.removeEventListener('abort', onAbort), reject(e))
      }
      if (this.#pending.size === 0) this.#lastProgress = performance.now()
      this.#pending.set(handle, pending)
      this.#send({ flags: 0, type: command, handle, offset, length })
    })
  }

  #outgoing: Request[] = []

  /**
   * Queues a request; those queued while the event loop handles the replies that arrived together go
   * out in one write, after them (setImmediate runs once the loop has read every socket that was
   * ready). One write and one wake-up of the server for a batch, instead of one per request.
   */
  #send(request: Request): void {
    if (this.#outgoing.push(request) === 1) setImmediate(() => this.#flush())
  }

  #flush(): void {
    const batch = this.#outgoing
    if (batch.length === 0) return
    this.#outgoing = []
    const bytes = Buffer.allocUnsafe(batch.length * REQUEST_SIZE)
    for (const [i, r] of batch.entries()) encodeRequest(r, bytes, i * REQUEST_SIZE)
    this.#transport.write(bytes)
  }

  #drainWaiters: (() => void)[] = []

  #complete(request: Pending): void {
    this.#pending.delete(request.handle)
    if (this.#pending.size === 0) for (const resolve of this.#drainWaiters.splice(0)) resolve()
    if (request.abandoned) return
    if (request.error === undefined) return request.resolve(request)
    const { errno, message } = request.error
    const what = request.command === Cmd.READ ? 'read' : 'block status'
    request.reject(
      new NbdError(
        'NBD_SERVER_ERROR',
        `${this.#where}: ${what} of ${request.length} bytes at ${request.offset} failed with ${errnoName(errno)}${message === '' ? '' : `: ${message}`}`,
        {
          retryable: TRANSIENT_ERRNOS.has(errno),
          details: { errno: errnoName(errno), offset: request.offset, length: request.length },
        },
      ),
    )
  }

  #fail(cause: Error): void {
    this.#stopWatchdog()
    let error = cause
    if (!this.#decoder.idle && !(cause instanceof NbdError && cause.code !== 'NBD_CONNECTION_CLOSED')) {
      error = new NbdError(
        'NBD_SHORT_REPLY',
        `${this.#where} closed the connection in the middle of a reply`,
        { cause, retryable: true },
      )
    }
    this.#failed ??= error
    for (const pending of this.#pending.values()) if (!pending.abandoned) pending.reject(error)
    this.#pending.clear()
    for (const resolve of this.#drainWaiters.splice(0)) resolve()
  }

  #lastProgress = 0
  #startWatchdog(timeoutMs: number): void {
    let seen = this.#received
    this.#watchdog = setInterval(
      () => {
        const now = performance.now()
        if (this.#received !== seen || this.#pending.size === 0) {
          seen = this.#received
          this.#lastProgress = now
        } else if (now - this.#lastProgress > timeoutMs) {
          this.#transport.destroy(
            new NbdError('NBD_TIMEOUT', `${this.#where} did not answer for ${timeoutMs} ms`, {
              retryable: true,
            }),
          )
        }
      },
      Math.max(10, Math.min(1000, timeoutMs / 4)),
    )
    this.#watchdog.unref()
  }

  #stopWatchdog(): void {
    clearInterval(this.#watchdog)
  }
}
