// Sends one e-mail through the configured SMTP server with nodemailer: STARTTLS required when the
// settings say so (a server that does not offer it is refused, never talked to in clear), the system's
// CAs plus the ones the admin gave, authentication, and every wait bounded. A failure is a
// NotificationError that names the server and the reason; the password is in no message.
import { createTransport } from 'nodemailer'
import { StrataError, errorCode, errorMessage, raceAbort } from '@strata/core'
import type { SmtpAccount } from './notification-store.js'

export class NotificationError extends StrataError {
  constructor(code: 'SMTP_FAILED' | 'WEBHOOK_FAILED', message: string, cause?: unknown, retryable = false) {
    super(code, message, { cause, retryable })
  }
}

export interface Mail {
  readonly subject: string
  readonly html: string
  readonly text: string
}

/** Each wait of one conversation; the whole of it is bounded by the caller's signal. */
export const SMTP_TIMEOUTS = { connectionMs: 10_000, greetingMs: 10_000, socketMs: 20_000 } as const

export async function sendMail(account: SmtpAccount, mail: Mail, signal: AbortSignal): Promise<void> {
  const s = account.settings
  const where = `SMTP server ${s.host}:${s.port}`
  const transport = createTransport({
    host: s.host,
    port: s.port,
    secure: s.security === 'tls',
    requireTLS: s.security === 'starttls',
    ignoreTLS: s.security === 'none',
    ...(account.password === undefined || s.username === undefined
      ? {}
      : { auth: { user: s.username, pass: account.password } }),
    tls: { servername: s.host, minVersion: 'TLSv1.2', ...(s.ca === undefined ? {} : { ca: [s.ca] }) },
    connectionTimeout: SMTP_TIMEOUTS.connectionMs,
    greetingTimeout: SMTP_TIMEOUTS.greetingMs,
    socketTimeout: SMTP_TIMEOUTS.socketMs,
    dnsTimeout: SMTP_TIMEOUTS.connectionMs,
    logger: false,
    debug: false,
  })
  try {
    // Nodemailer takes no signal: the wait ends at the abort, the connection at its own timeouts.
    const sent = transport.sendMail({
      from: s.from,
      to: [...s.to],
      subject: mail.subject,
      text: mail.text,
      html: mail.html,
      headers: { 'Auto-Submitted': 'auto-generated' },
    })
    sent.catch(() => undefined) // still settles after an abort
    await raceAbort(sent, signal)
  } catch (error) {
    const why = signal.aborted ? 'it took too long (aborted)' : smtpReason(error)
    throw new NotificationError('SMTP_FAILED', `e-mail to ${where} failed: ${why}`, error, true)
  } finally {
    transport.close()
  }
}

/** What nodemailer's codes mean, for the admin reading the log. */
const HINTS: Readonly<Record<string, string>> = {
  ETLS: 'the TLS upgrade (STARTTLS) was refused or failed',
  EAUTH: 'authentication failed',
  ECONNECTION: 'no connection',
  ETIMEDOUT: 'timed out',
  EENVELOPE: 'a sender or recipient was refused',
  EMESSAGE: 'the message was refused',
}

/** Nodemailer's code, what it means, and the server's own answer when it gave one. */
function smtpReason(error: unknown): string {
  const response = (error as { response?: unknown }).response
  const code = errorCode(error)
  const text = typeof response === 'string' && response !== '' ? response : errorMessage(error)
  const hint = HINTS[code] === undefined ? '' : ` (${HINTS[code]})`
  return `${code === 'UNKNOWN' ? '' : `${code}${hint}: `}${text}`.slice(0, 500)
}
