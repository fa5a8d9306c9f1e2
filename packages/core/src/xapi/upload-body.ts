// The body of an upload (/import_raw_vdi, /import), written one item at a time with its progress
// watched: a write that does not complete for the inactivity timeout means the target stopped taking
// the body (its socket no longer drains), and the transfer is abandoned as stalled. A body shorter or
// longer than announced, or whose source fails, closes the connection (XAPI would wait forever for the
// missing bytes) and is reported as it is.
import type { ClientRequest } from 'node:http'
import { Readable } from 'node:stream'
import { PoolCertificateError } from './pool-certificate.js'
import { XapiTransferError } from './xapi-error.js'

/**
 * An upload's body and its exact length; `open` is called again after a redirect. A Readable is read
 * chunk by chunk; any other iterable lends its items (valid only until it is resumed, so that they can
 * be reused). Either way each one is written to the socket before the next is asked for.
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

export function stalledError(label: string, idleMs: number, what = 'no data'): XapiTransferError {
  return new XapiTransferError('XAPI_TRANSFER_STALLED', `${label}: ${what} for ${idleMs} ms`, {
    retryable: true,
    details: { inactivityTimeoutMs: idleMs },
  })
}

export function isStall(error: unknown): boolean {
  return error instanceof XapiTransferError && error.code === 'XAPI_TRANSFER_STALLED'
}

/** Writes the body, then ends the request; any failure destroys the request with its reason. */
export async function writeBody(
  request: ClientRequest,
  body: UploadBody,
  label: string,
  idleMs: number,
): Promise<void> {
  const closed = new Promise<never>((_, reject) =>
    request.once('close', () => reject(new Error(`${label}: the connection closed`))),
  )
  closed.catch(() => {})
  const source = body.open()
  // A Readable waiting for its source would not see the connection go: it is told.
  if (source instanceof Readable) request.once('close', () => source.destroy())
  let sent = 0
  let connectionError: unknown
  try {
    for await (const bytes of source as AsyncIterable<Uint8Array>) {
      sent += bytes.length
      if (sent > body.length) break
      await Promise.race([written(request, bytes, label, idleMs), closed]).catch((error: unknown) => {
        connectionError = error
        throw error
      })
    }
    if (sent !== body.length) request.destroy(lengthError(label, sent, body.length))
    else request.end()
  } catch (error) {
    // The connection's own failure is reported by the request already; the body's is the transfer's.
    if (error !== connectionError) request.destroy(bodyFailed(error))
  }
}

/**
 * Resolves once `bytes` reached the socket. The inactivity clock runs from when the request has its
 * socket (connecting has timeouts of its own) until the write completes.
 */
function written(request: ClientRequest, bytes: Uint8Array, label: string, idleMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const arm = (): void => {
    timer = setTimeout(
      () => request.destroy(stalledError(label, idleMs, 'the target took no byte of the body')),
      idleMs,
    )
  }
  if (request.socket !== null) arm()
  else request.once('socket', arm)
  return new Promise((resolve, reject) =>
    request.write(bytes, (error) => {
      clearTimeout(timer)
      request.off('socket', arm)
      if (error) reject(error)
      else resolve()
    }),
  )
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

export function isFailedBody(error: unknown): boolean {
  return error instanceof Error && failedBodies.has(error)
}

/** Failures the client knows the reason of better than the task, which only saw a cut transfer. */
export function isOurs(error: unknown): boolean {
  return (
    (error instanceof XapiTransferError &&
      ['XAPI_TRANSFER_LENGTH', 'XAPI_REDIRECT_REFUSED', 'XAPI_TRANSFER_STALLED'].includes(error.code)) ||
    error instanceof PoolCertificateError ||
    isFailedBody(error)
  )
}

function lengthError(label: string, sent: number, length: number): XapiTransferError {
  const message = `${label}: the body had ${sent > length ? 'more than ' : ''}${sent} bytes, ${length} announced`
  return new XapiTransferError('XAPI_TRANSFER_LENGTH', message)
}
