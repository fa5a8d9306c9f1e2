// The errors of the agent link, on both sides: each names what was refused and whether trying again
// may help (a dropped link is retried with backoff; a wrong pin, a revoked token or a protocol the other
// side does not speak are not, since nothing changes until someone acts).
import { StrataError } from '../shared/index.js'

export class AgentError extends StrataError {}

/** The server presented a certificate other than the pinned one: the agent sent it nothing. */
export class AgentCertificateError extends AgentError {
  constructor(where: string, expected: string, seen: string | undefined) {
    super(
      'AGENT_CERTIFICATE_MISMATCH',
      `the server at ${where} presented the certificate ${seen ?? '(none)'}, not the pinned ${expected}: ` +
        'nothing was sent (check --fingerprint against the one the server prints at its start)',
      { details: { where, expected, ...(seen === undefined ? {} : { seen }) } },
    )
  }
}

/** A message that is not one of the protocol's, or too large. */
export class AgentMessageError extends AgentError {
  constructor(reason: string, cause?: unknown) {
    super('AGENT_MESSAGE_INVALID', `invalid agent message: ${reason}`, { cause })
  }
}

/** The other side refused the link (token, protocol version): its reason, as it gave it. */
export class AgentRefusedError extends AgentError {
  constructor(code: string, message: string) {
    super(code, message)
  }
}

/** The link dropped or could not be made: tried again. */
export class AgentLinkError extends AgentError {
  constructor(message: string, cause?: unknown) {
    super('AGENT_LINK_DOWN', message, { cause, retryable: true })
  }
}
