// One JSON-RPC v2 call over HTTP(S) to one host's /jsonrpc. Transport trouble (refused, reset, HTML,
// timeouts) becomes XapiConnectionError; XAPI's own failures (always HTTP 200) become XapiError; a host
// whose certificate is not the pinned one, PoolCertificateError (from the agent: see pool-trust.ts).
import { request as httpRequest, type Agent as HttpAgent } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { once } from 'node:events'
import { AbortedError } from '../shared/index.js'
import { isReadOnlyCall } from './read-only-calls.js'
import { PoolCertificateError } from './pool-certificate.js'
import { XapiConnectionError, XapiError } from './xapi-error.js'

export interface RpcCallOptions {
  signal?: AbortSignal
  timeoutMs?: number
}

const MAX_RESPONSE = 256 * 1024 * 1024

/** What a connection closed by the peer under a request looks like ("socket hang up" is ECONNRESET). */
const CLOSED_BY_PEER = new Set(['ECONNRESET', 'EPIPE'])

interface Reply {
  status: number
  contentType: string
  text: string
}

/** A request on a pooled connection that the server closed before any byte of an answer. */
class StaleConnectionError extends XapiConnectionError {}

/**
 * Destroys the agent's idle connections (all to this transport's host) and waits until the agent has let
 * go of them, so that the next request opens a new one. They are older than the one that just failed
 * (Node's agents reuse the most recently freed first): no better placed.
 */
async function retirePooled(agent: HttpAgent): Promise<void> {
  const idle = Object.values(agent.freeSockets).flatMap((sockets) => sockets ?? [])
  await Promise.all(
    idle.map(async (socket) => {
      if (socket.closed) return
      const closed = once(socket, 'close')
      socket.destroy()
      await closed
    }),
  )
}

export class JsonRpcTransport {
  #id = 0

  /** `agent` (owned: destroyed by close) decides which hosts are trusted: PoolTrust.agent(true). */
  constructor(
    readonly url: URL,
    readonly agent: HttpAgent,
  ) {}

  close(): void {
    this.agent.destroy()
  }

  async call(method: string, params: unknown[], options: RpcCallOptions = {}): Promise<unknown> {
    const body = JSON.stringify({ jsonrpc: '2.0', id: this.#id++, method, params })
    const { status, contentType, text } = await this.#send(body, method, options)
    if (status !== 200) {
      throw new XapiConnectionError(`${this.url.host}: HTTP ${status} for ${method}`, {
        details: { host: this.url.host, status, method },
      })
    }
    if (contentType !== 'application/json') {
      throw new XapiConnectionError(
        `${this.url.host} answered ${contentType} to JSON-RPC (too old a host?)`,
        {
          retryable: false,
          details: { host: this.url.host, method },
        },
      )
    }
    let response: { result?: unknown; error?: unknown }
    try {
      response = JSON.parse(text) as typeof response
    } catch (cause) {
      throw new XapiConnectionError(`${this.url.host}: malformed JSON-RPC response to ${method}`, { cause })
    }
    if (response.error !== undefined && response.error !== null)
      throw XapiError.fromWire(response.error, method)
    return response.result
  }

  /**
   * The POST, sent again once, on a new connection, when the pooled connection it went out on was closed
   * by the server before any byte of an answer (ECONNRESET, EPIPE, "socket hang up"): the server had
   * closed it while idle, its close not yet seen here when the request was written (keep-alive.ts keeps
   * that rare). Only calls without effect are resent. A request that the server never read is safe to
   * resend whatever it is, but the client cannot tell that case from a server that read the request,
   * started it and died (a toolstack restart): both end in a reset before any answer, and sending
   * VM.snapshot or VDI.destroy again would do it twice. Calls with effect fail with XapiConnectionError,
   * as before; read-only ones cannot have done anything, and a new connection has no idle close coming.
   */
  async #send(body: string, method: string, options: RpcCallOptions): Promise<Reply> {
    try {
      return await this.#post(body, method, options)
    } catch (error) {
      if (!(error instanceof StaleConnectionError) || !isReadOnlyCall(method)) throw error
      await retirePooled(this.agent)
      return this.#post(body, method, options)
    }
  }

  #post(body: string, method: string, { signal, timeoutMs = 90_000 }: RpcCallOptions): Promise<Reply> {
    if (signal?.aborted) return Promise.reject(new AbortedError(signal.reason))
    const request = this.url.protocol === 'https:' ? httpsRequest : httpRequest
    return new Promise((resolve, reject) => {
      const req = request(new URL('/jsonrpc', this.url), {
        method: 'POST',
        agent: this.agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        signal,
        timeout: timeoutMs,
      })
      // A new connection is bounded by the agent (connect, handshake); this is the request and its answer.
      req.on('timeout', () =>
        req.destroy(
          new XapiConnectionError(`${this.url.host}: no answer to ${method} in ${timeoutMs} ms`, {
            details: { host: this.url.host, method, phase: 'response', timeoutMs },
          }),
        ),
      )
      let answered = false
      req.on('error', (cause) => {
        if (signal?.aborted) return reject(new AbortedError(signal.reason))
        if (cause instanceof XapiConnectionError || cause instanceof PoolCertificateError)
          return reject(cause)
        const errno = (cause as NodeJS.ErrnoException).code
        const message = `${this.url.host}: ${method} failed: ${cause.message}`
        const details = { host: this.url.host, method, errno }
        const stale = req.reusedSocket && !answered && CLOSED_BY_PEER.has(errno ?? '')
        reject(
          stale
            ? new StaleConnectionError(message, { cause, details })
            : new XapiConnectionError(message, { cause, details }),
        )
      })
      req.on('response', (res) => {
        answered = true
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (chunk: Buffer) => {
          size += chunk.length
          if (size > MAX_RESPONSE) res.destroy(new XapiConnectionError(`${method}: response too large`))
          else chunks.push(chunk)
        })
        res.on('error', (cause) => req.emit('error', cause))
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: (res.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '',
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        )
      })
      req.end(body)
    })
  }
}
