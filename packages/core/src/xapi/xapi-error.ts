// Errors of the XAPI client. XapiError carries XAPI's own code and params (`["VDI_IN_USE", ref, op]`);
// the others say what went wrong around a call: the connection, a transfer, a task that vanished.
import { StrataError, type StrataErrorOptions } from '../shared/index.js'

/** Codes after which repeating the same call later may succeed. */
const RETRYABLE = new Set(['TOO_MANY_PENDING_TASKS', 'VDI_IN_USE', 'OTHER_OPERATION_IN_PROGRESS'])

/** A failure reported by XAPI itself: `code` is XAPI's error code, `params` its parameters. */
export class XapiError extends StrataError {
  /** XAPI's params, with session refs redacted (they are secrets and no caller needs them). */
  readonly params: readonly string[]
  /** The call that failed, e.g. 'VM.snapshot' (never its arguments: they may hold secrets). */
  readonly method: string | undefined

  constructor(code: string, params: readonly string[], method?: string, options: StrataErrorOptions = {}) {
    const where = method === undefined ? '' : ` in ${method}`
    // SESSION_INVALID's param is the session ref itself: a secret.
    const shown = code === 'SESSION_INVALID' ? ['<session>'] : params.map(redact)
    super(code, `XAPI ${code}${where}${shown.length > 0 ? ` [${shown.join(', ')}]` : ''}`, {
      retryable: RETRYABLE.has(code),
      ...options,
      details: { xapiCode: code, params: shown, method, ...options.details },
    })
    this.params = shown
    this.method = method
  }

  /** Accepts both wire forms: v1 `["CODE", p…]` and v2 `{code: 1, message: "CODE", data: [p…]}`. */
  static fromWire(error: unknown, method?: string): XapiError {
    if (Array.isArray(error) && typeof error[0] === 'string') {
      return new XapiError(error[0], error.slice(1).map(String), method)
    }
    if (error !== null && typeof error === 'object') {
      const { message, data } = error as { message?: unknown; data?: unknown }
      if (typeof message === 'string') {
        const params = Array.isArray(data) ? data.map(String) : data === undefined ? [] : [String(data)]
        return new XapiError(message, params, method)
      }
    }
    return new XapiError('INTERNAL_ERROR', [JSON.stringify(error)], method)
  }
}

/** The pool could not be reached or answered something that is not XAPI (HTML, a reset, a timeout). */
export class XapiConnectionError extends StrataError {
  constructor(message: string, options: StrataErrorOptions = {}, code = 'XAPI_CONNECTION') {
    super(code, message, { retryable: true, ...options })
  }
}

/** The steps of a new connection to a pool host, before HTTP has it. */
export type ConnectPhase = 'tcp-connect' | 'tls-handshake'

const PHASE_TEXT: Record<ConnectPhase, string> = {
  'tcp-connect': 'TCP connection',
  'tls-handshake': 'TLS handshake',
}

/**
 * A connection to a pool host did not get through `phase` in time: a host down or filtered (TCP), or a
 * host that accepts connections and never answers (TLS: a hung toolstack). Nothing was sent to it.
 */
export class XapiConnectTimeoutError extends XapiConnectionError {
  constructor(
    readonly host: string,
    readonly phase: ConnectPhase,
    timeoutMs: number,
  ) {
    super(
      `pool host ${host}: no ${PHASE_TEXT[phase]} within ${timeoutMs} ms`,
      { details: { host, phase, timeoutMs } },
      'XAPI_CONNECT_TIMEOUT',
    )
  }
}

/** An HTTP data transfer (export/import) failed or was cut short. */
export class XapiTransferError extends StrataError {
  constructor(code: string, message: string, options: StrataErrorOptions = {}) {
    super(code, message, options)
  }
}

/** Session refs appear in URLs and NBD export names; they are secrets and never printed. */
export function redact(param: string): string {
  return param.replace(/session_id=[^&\s"]+/g, 'session_id=<redacted>')
}

export function isXapiError(error: unknown, code?: string): error is XapiError {
  return error instanceof XapiError && (code === undefined || error.code === code)
}
