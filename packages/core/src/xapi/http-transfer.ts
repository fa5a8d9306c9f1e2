// The HTTP data handlers: /export_raw_vdi, /import_raw_vdi, /export, /import. Their quirks: no
// Content-Length (the body ends at connection close), a 302 to another host, the 200 sent before the
// work (a failure then only shows in the task, sometimes with "HTTP/1.1 500" text in the body), and a
// stream cut short. The task bound with task_id is the only reliable verdict, so every transfer waits
// for it. The URL carries the session id: a redirect is followed only to a host of the same pool, over a
// connection pinned to that host's certificate (the client's PoolTrust).
import type { Agent, ClientRequest, IncomingMessage } from 'node:http'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { Readable, Transform, type TransformCallback } from 'node:stream'
import { AbortedError } from '../shared/index.js'
import type { XmlRpcValue } from './codec/xmlrpc-value.js'
import { cancelTask, createTask, destroyTask, waitTask } from './tasks.js'
import type { Ref, XapiClient } from './xapi-client.js'
import { XapiTransferError, isXapiError } from './xapi-error.js'
import { PoolCertificateError } from './pool-certificate.js'

const MAX_REDIRECTS = 3

/**
 * An upload's body and its exact length; `open` is called again after a redirect. A Readable is piped;
 * any other iterable lends its items (valid only until it is resumed, so that they can be reused), and
 * each one is written to the socket before the next is asked for.
 */
export interface UploadBody {
  open: () => Readable | AsyncIterable<Uint8Array>
  length: number
  /**
   * Send the body only once the host answered 200 (XAPI answers before it reads a body): a body that can
   * be read once (chunks streamed from another pool) is then never half spent on a 302.
   */
  afterResponse?: boolean
}

export interface TransferRequest {
  method: 'GET' | 'PUT'
  path: string
  query: Record<string, string | undefined>
  label: string
  /** For PUT: opens the body (again after a redirect) and its exact length. */
  body?: UploadBody
  signal?: AbortSignal
  /** A transfer that moves no byte for this long is abandoned (default 5 minutes). */
  inactivityTimeoutMs?: number
}

interface Started {
  task: Ref
  response: IncomingMessage
  request: ClientRequest
}

/** Sends the request, following 302s; resolves on a 200 with the task bound to the transfer. */
async function start(client: XapiClient, req: TransferRequest): Promise<Started> {
  const task = await createTask(client, req.label, req.signal)
  try {
    let url = transferUrl(client, req, task)
    for (let hop = 0; ; hop++) {
      const { request, response } = await send(url, req, client.trust.agent(false))
      const status = response.statusCode ?? 0
      if (status === 200) return { task, response, request }
      const location = response.headers.location
      const text = await readSmall(response)
      request.destroy()
      if ((status === 302 || status === 301) && location !== undefined && hop < MAX_REDIRECTS) {
        url = redirectUrl(client, url, location, req.label)
        continue
      }
      throw await failure(client, task, req, status, text)
    }
  } catch (error) {
    if (req.signal?.aborted) await cancelTask(client, task)
    // When the connection broke, the task (if it ended) says why better than the socket does.
    // Not for a body that failed or had the wrong length: ours to report (the task then fails on it too).
    const verdict =
      error instanceof XapiTransferError && !isOurs(error) ? await taskError(client, task) : undefined
    await destroyTask(client, task)
    throw verdict ?? error
  }
}

async function taskError(client: XapiClient, task: Ref): Promise<unknown> {
  try {
    await waitTask(client, task, { signal: AbortSignal.timeout(2000) })
  } catch (error) {
    if (isXapiError(error)) return error
  }
  return undefined
}

function transferUrl(client: XapiClient, req: TransferRequest, task: Ref): URL {
  const url = new URL(req.path, client.url)
  for (const [k, v] of Object.entries(req.query)) if (v !== undefined) url.searchParams.set(k, v)
  url.searchParams.set('session_id', client.sessionRef())
  url.searchParams.set('task_id', task)
  return url
}

/**
 * XAPI redirects to `https://<host address>/path?query` of the member that holds the disk; keep our
 * scheme and port (lab pools). Any other host would receive the session id: refused.
 */
function redirectUrl(client: XapiClient, previous: URL, location: string, label: string): URL {
  let next: URL
  try {
    next = new URL(location, previous)
  } catch (cause) {
    throw new XapiTransferError('XAPI_REDIRECT_REFUSED', `${label}: the pool redirected to an invalid URL`, {
      cause,
    })
  }
  if (!client.trust.isPoolHost(next.hostname)) {
    throw new XapiTransferError(
      'XAPI_REDIRECT_REFUSED',
      `${label}: the pool redirected to ${next.hostname}, which is not a host of this pool: refused, ` +
        'since the request carries the session id',
      { details: { host: next.hostname } },
    )
  }
  const url = new URL(previous)
  url.hostname = next.hostname
  url.pathname = next.pathname
  url.search = next.search
  return url
}

function send(
  url: URL,
  req: TransferRequest,
  agent: Agent,
): Promise<{ request: ClientRequest; response: IncomingMessage }> {
  const request = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, {
    method: req.method,
    signal: req.signal,
    agent,
    headers: req.body === undefined ? {} : { 'content-length': req.body.length },
  })
  const idle = req.inactivityTimeoutMs ?? 300_000
  request.setTimeout(idle, () =>
    request.destroy(
      new XapiTransferError('XAPI_TRANSFER_STALLED', `${req.label}: no data for ${idle} ms`, {
        retryable: true,
      }),
    ),
  )
  return new Promise((resolve, reject) => {
    request.once('response', (response) => resolve({ request, response }))
    // `on`, not `once`: a socket error may come after the response too, and must not go unhandled.
    request.on('error', (cause) =>
      reject(
        req.signal?.aborted
          ? new AbortedError(req.signal.reason)
          : cause instanceof XapiTransferError ||
              cause instanceof PoolCertificateError ||
              failedBodies.has(cause)
            ? cause
            : new XapiTransferError('XAPI_TRANSFER_FAILED', `${req.label} on ${url.host}: ${cause.message}`, {
                cause,
                retryable: true,
              }),
      ),
    )
    if (req.body === undefined) request.end()
    else if (req.body.afterResponse !== true) sendBody(req.body, request, req.label)
    else {
      const body = req.body
      request.flushHeaders()
      request.once('response', (response) => {
        if (response.statusCode === 200) sendBody(body, request, req.label)
      })
    }
  })
}

function sendBody(upload: UploadBody, request: ClientRequest, label: string): void {
  const body = upload.open()
  if (body instanceof Readable) pipeBody(body, request, label, upload.length)
  else void pumpBody(body, request, label, upload.length)
}

function pipeBody(body: Readable, request: ClientRequest, label: string, length: number): void {
  let sent = 0
  // A body shorter than announced would leave XAPI waiting forever: close the connection instead.
  const counter = new Transform({
    transform(chunk: Buffer, _enc, callback) {
      sent += chunk.length
      callback(null, chunk)
    },
    flush(callback) {
      if (sent !== length) request.destroy(lengthError(label, sent, length))
      callback()
    },
  })
  body.on('error', (cause) => request.destroy(bodyFailed(cause)))
  request.once('close', () => body.destroy())
  body.pipe(counter).pipe(request)
}

/** Writes lent items one at a time: each has reached the socket before the body is resumed. */
async function pumpBody(
  body: AsyncIterable<Uint8Array>,
  request: ClientRequest,
  label: string,
  length: number,
): Promise<void> {
  const closed = new Promise<never>((_, reject) =>
    request.once('close', () => reject(new Error(`${label}: the connection closed`))),
  )
  closed.catch(() => {})
  let sent = 0
  let connectionError: unknown
  try {
    for await (const bytes of body) {
      sent += bytes.length
      if (sent > length) break
      await Promise.race([written(request, bytes), closed]).catch((error: unknown) => {
        connectionError = error
        throw error
      })
    }
    if (sent !== length) request.destroy(lengthError(label, sent, length))
    else request.end()
  } catch (error) {
    // The connection's own failure is reported by the request already; the body's is the transfer's.
    if (error !== connectionError) request.destroy(bodyFailed(error))
  }
}

/**
 * Errors of upload bodies (the source of the data failed: a repository, a file): reported as they are,
 * before the task's verdict, which only says that the transfer was cut.
 */
const failedBodies = new WeakSet<Error>()

function bodyFailed(error: unknown): Error {
  const cause = error instanceof Error ? error : new Error(String(error))
  failedBodies.add(cause)
  return cause
}

function isOurs(error: unknown): boolean {
  return (
    (error instanceof XapiTransferError &&
      (error.code === 'XAPI_TRANSFER_LENGTH' || error.code === 'XAPI_REDIRECT_REFUSED')) ||
    error instanceof PoolCertificateError ||
    (error instanceof Error && failedBodies.has(error))
  )
}

function written(request: ClientRequest, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) =>
    request.write(bytes, (error) => (error ? reject(error) : resolve())),
  )
}

function lengthError(label: string, sent: number, length: number): XapiTransferError {
  const message = `${label}: the body had ${sent > length ? 'more than ' : ''}${sent} bytes, ${length} announced`
  return new XapiTransferError('XAPI_TRANSFER_LENGTH', message)
}

async function readSmall(response: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  try {
    for await (const chunk of response as AsyncIterable<Buffer>) {
      if ((size += chunk.length) > 65536) break
      chunks.push(chunk)
    }
  } catch {
    // A closed connection after an error page is normal.
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** The task's own error when it has one (the reliable signal), else the HTTP status and page. */
async function failure(client: XapiClient, task: Ref, req: TransferRequest, status: number, text: string) {
  const verdict = await taskError(client, task)
  if (verdict !== undefined) return verdict
  const detail = /Additional information\s*<\/h1>\s*([^<]*)/.exec(text)?.[1]?.trim()
  return new XapiTransferError(
    'XAPI_HTTP_ERROR',
    `${req.label}: HTTP ${status}${detail ? ` (${detail})` : ''}`,
    {
      details: { status },
    },
  )
}

/**
 * A download whose stream errors at its end unless the task succeeded and, when known, the length is
 * right: consumers cannot mistake a cut or failed transfer for a complete one.
 */
export async function download(
  client: XapiClient,
  req: TransferRequest,
  expectedLength?: number,
): Promise<Readable> {
  const { task, response, request } = await start(client, req)
  let received = 0
  let head = Buffer.alloc(0)
  const onAbort = (): void => void cancelTask(client, task)
  req.signal?.addEventListener('abort', onAbort, { once: true })
  const out = new Transform({
    transform(chunk: Buffer, _enc, callback: TransformCallback) {
      if (head.length < 5) head = Buffer.concat([head, chunk.subarray(0, 5 - head.length)])
      received += chunk.length
      callback(null, chunk)
    },
    flush(callback: TransformCallback) {
      verify(client, task, req, { received, head, expectedLength }).then(
        () => callback(),
        (error: unknown) => callback(error as Error),
      )
    },
    destroy(error, callback) {
      req.signal?.removeEventListener('abort', onAbort)
      request.destroy()
      callback(error)
    },
  })
  // A stall is reported by the request (its timeout); a cut by the response.
  request.on('error', (error) => {
    if (error instanceof XapiTransferError) out.destroy(error)
  })
  response.on('error', (cause) =>
    out.destroy(
      req.signal?.aborted
        ? new AbortedError(req.signal.reason)
        : new XapiTransferError(
            'XAPI_TRANSFER_CUT',
            `${req.label}: connection lost after ${received} bytes`,
            {
              cause,
            },
          ),
    ),
  )
  response.pipe(out)
  return out
}

async function verify(
  client: XapiClient,
  task: Ref,
  req: TransferRequest,
  got: { received: number; head: Buffer; expectedLength: number | undefined },
): Promise<void> {
  try {
    await waitTask(client, task, { signal: req.signal })
  } finally {
    await destroyTask(client, task)
  }
  if (got.head.toString('latin1').startsWith('HTTP/')) {
    throw new XapiTransferError('XAPI_TRANSFER_GARBAGE', `${req.label}: the body is an HTTP error page`)
  }
  if (got.expectedLength !== undefined && got.received !== got.expectedLength) {
    throw new XapiTransferError(
      'XAPI_TRANSFER_CUT',
      `${req.label}: got ${got.received} bytes, expected ${got.expectedLength}`,
      { details: { received: got.received, expected: got.expectedLength } },
    )
  }
}

/** An upload: the 200 arrives before the body is consumed; the task's result is the verdict. */
export async function upload(client: XapiClient, req: TransferRequest): Promise<XmlRpcValue> {
  const { task, response, request } = await start(client, req)
  let sendError: unknown
  try {
    await Promise.all([
      new Promise<void>((resolve) => {
        if (request.writableFinished) return resolve()
        request.once('finish', resolve)
        // The server may close early on failure: the task, not the socket, says what happened.
        request.once('error', (error) => {
          sendError = error
          resolve()
        })
      }),
      readSmall(response),
    ])
    if (isOurs(sendError)) {
      // The task fails on the cut body too, but only this says why.
      await waitTask(client, task, { signal: req.signal }).catch(() => undefined)
      throw sendError
    }
    const result = await waitTask(client, task, { signal: req.signal })
    if (sendError !== undefined) {
      throw new XapiTransferError('XAPI_TRANSFER_FAILED', `${req.label}: upload interrupted`, {
        cause: sendError,
      })
    }
    return result
  } catch (error) {
    if (req.signal?.aborted) await cancelTask(client, task)
    throw error
  } finally {
    await destroyTask(client, task)
  }
}
