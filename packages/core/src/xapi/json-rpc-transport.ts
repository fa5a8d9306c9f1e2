// One JSON-RPC v2 call over HTTP(S) to one host's /jsonrpc. Transport trouble (refused, reset, HTML,
// timeouts) becomes XapiConnectionError; XAPI's own failures (always HTTP 200) become XapiError; a host
// whose certificate is not the pinned one, PoolCertificateError (from the agent: see pool-trust.ts).
import { request as httpRequest, type Agent as HttpAgent } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { AbortedError } from '../shared/index.js'
import { PoolCertificateError } from './pool-certificate.js'
import { XapiConnectionError, XapiError } from './xapi-error.js'

export interface RpcCallOptions {
  signal?: AbortSignal
  timeoutMs?: number
}

const MAX_RESPONSE = 256 * 1024 * 1024

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
    const { status, contentType, text } = await this.#post(body, method, options)
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

  #post(
    body: string,
    method: string,
    { signal, timeoutMs = 90_000 }: RpcCallOptions,
  ): Promise<{ status: number; contentType: string; text: string }> {
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
      req.on('error', (cause) => {
        if (signal?.aborted) return reject(new AbortedError(signal.reason))
        if (cause instanceof XapiConnectionError || cause instanceof PoolCertificateError)
          return reject(cause)
        reject(
          new XapiConnectionError(`${this.url.host}: ${method} failed: ${cause.message}`, {
            cause,
            details: { host: this.url.host, method, errno: (cause as NodeJS.ErrnoException).code },
          }),
        )
      })
      req.on('response', (res) => {
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
