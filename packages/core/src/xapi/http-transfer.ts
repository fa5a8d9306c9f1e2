// The HTTP data handlers: /export_raw_vdi, /import_raw_vdi, /export, /import. Their quirks: no
// Content-Length (the body ends at connection close), a 302 to another host, the 200 sent before the
// work (a failure then only shows in the task, sometimes with "HTTP/1.1 500" text in the body), and a
// stream cut short. The task bound with task_id is the only reliable verdict, so every transfer waits
// for it. The URL carries the session id: a redirect is followed only to a host of the same pool, over a
// connection pinned to that host's certificate (the client's PoolTrust).
import type { Agent, ClientRequest, IncomingMessage } from 'node:http'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { Transform, type Readable, type TransformCallback } from 'node:stream'
import { AbortedError, anySignal, throwIfAborted } from '../shared/index.js'
import type { XmlRpcValue } from './codec/xmlrpc-value.js'
import { cancelTask, createTask, destroyTask, waitTask } from './tasks.js'
import type { Ref, XapiClient } from './xapi-client.js'
import { XapiConnectionError, XapiTransferError, isXapiError } from './xapi-error.js'
import { PoolCertificateError } from './pool-certificate.js'
import { isFailedBody, isOurs, isStall, stalledError, writeBody, type UploadBody } from './upload-body.js'

export type { UploadBody } from './upload-body.js'

const MAX_REDIRECTS = 3
/**
 * How long a transfer that went wrong waits for its task's verdict: a task usually ends at once when
 * its connection breaks, but on a hung host it may never end, and is then cancelled.
 */
const VERDICT_WAIT_MS = 5000

export interface TransferRequest {
  method: 'GET' | 'PUT'
  path: string
  query: Record<string, string | undefined>
  label: string
  /** For PUT: opens the body (again after a redirect) and its exact length. */
  body?: UploadBody
  signal?: AbortSignal
  /**
   * A transfer that moves no byte for this long is abandoned as stalled (default 5 minutes): no byte
   * received, and for uploads no write of the body completed (the target stopped taking it).
   */
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
    if (req.signal?.aborted || isStall(error)) await cancelTask(client, task)
    // When the connection broke, the task (if it ended) says why better than the socket does.
    // Not for a body that failed, had the wrong length or stalled: ours to report (the task then fails
    // on it too).
    const verdict =
      error instanceof XapiTransferError && !isOurs(error) ? await taskError(client, task) : undefined
    await destroyTask(client, task)
    throw verdict ?? error
  }
}

/** The task's failure if it ends within VERDICT_WAIT_MS (or before `signal`), else undefined. */
async function taskError(client: XapiClient, task: Ref, signal?: AbortSignal): Promise<unknown> {
  try {
    await waitTask(client, task, { signal: anySignal(signal, AbortSignal.timeout(VERDICT_WAIT_MS)) })
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
  request.setTimeout(idle, () => request.destroy(stalledError(req.label, idle)))
  return new Promise((resolve, reject) => {
    request.once('response', (response) => resolve({ request, response }))
    // `on`, not `once`: a socket error may come after the response too, and must not go unhandled.
    request.on('error', (cause) =>
      reject(
        req.signal?.aborted
          ? new AbortedError(req.signal.reason)
          : cause instanceof XapiTransferError ||
              cause instanceof XapiConnectionError ||
              cause instanceof PoolCertificateError ||
              isFailedBody(cause)
            ? cause
            : new XapiTransferError('XAPI_TRANSFER_FAILED', `${req.label} on ${url.host}: ${cause.message}`, {
                cause,
                retryable: true,
              }),
      ),
    )
    if (req.body === undefined) request.end()
    else if (req.body.afterResponse !== true) void writeBody(request, req.body, req.label, idle)
    else {
      const body = req.body
      request.flushHeaders()
      request.once('response', (response) => {
        if (response.statusCode === 200) void writeBody(request, body, req.label, idle)
      })
    }
  })
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

/**
 * An upload: the 200 arrives before the body is consumed; the task's result is the verdict. A body that
 * did not get through ends it at once, whatever the target does with its task (see uploadFailure).
 */
export async function upload(client: XapiClient, req: TransferRequest): Promise<XmlRpcValue> {
  const { task, response, request } = await start(client, req)
  try {
    const sendError = await sent(request, response)
    if (sendError === undefined) return await waitTask(client, task, { signal: req.signal })
    throw await uploadFailure(client, task, req, sendError)
  } catch (error) {
    if (req.signal?.aborted) await cancelTask(client, task)
    throw error
  } finally {
    await destroyTask(client, task)
  }
}

/** Waits for the body to go out and the response to end; returns what cut either short, if anything. */
async function sent(request: ClientRequest, response: IncomingMessage): Promise<unknown> {
  let sendError: unknown
  await Promise.all([
    new Promise<void>((resolve) => {
      if (request.writableFinished) return resolve()
      request.once('finish', resolve)
      // The server may close early on failure: the task, not the socket, says what happened.
      request.once('error', (error) => {
        sendError = error
        resolve()
      })
      // A connection closed without an error event (the server dropped it between two writes of the
      // body, which then stopped): the body never finishes, so waiting for 'finish' would never end.
      request.once('close', () => {
        if (!request.writableFinished)
          sendError ??= new Error('the connection closed before the body was sent')
        resolve()
      })
    }),
    readSmall(response),
  ])
  return sendError
}

/**
 * The error of an upload whose body did not get through. A stall is reported as such (retryable) and
 * its task cancelled without waiting: a target that stopped taking the body may never end it. Otherwise
 * the task, given a moment, says why the connection broke, unless the reason is ours (a body that
 * failed or had the wrong length); a task still pending then is cancelled.
 */
async function uploadFailure(client: XapiClient, task: Ref, req: TransferRequest, sendError: unknown) {
  throwIfAborted(req.signal)
  const verdict = isStall(sendError) ? undefined : await taskError(client, task, req.signal)
  throwIfAborted(req.signal)
  if (verdict === undefined) await cancelTask(client, task)
  if (isOurs(sendError)) return sendError
  return (
    verdict ??
    new XapiTransferError('XAPI_TRANSFER_FAILED', `${req.label}: upload interrupted`, {
      cause: sendError,
      retryable: true,
    })
  )
}
