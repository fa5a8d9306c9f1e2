// Pool hosts present self-signed certificates, so Strata trusts a host by the SHA-256 fingerprint of its
// certificate (pinned), never by a CA chain. This file holds the fingerprint format, what a refused
// certificate looks like to the user (the fingerprint seen and how to check it on the host), and a probe
// that reads a host's certificate without sending it anything.
import { X509Certificate } from 'node:crypto'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'
import { AbortedError, StrataError } from '../shared/index.js'
import { XapiConnectionError } from './xapi-error.js'

/** Where an XCP-ng/XenServer host keeps the certificate it serves on 443 (and NBD): xapi.md §5.1. */
export const HOST_CERTIFICATE_PATH = '/etc/xensource/xapi-ssl.pem'
export const CHECK_ON_HOST = `openssl x509 -in ${HOST_CERTIFICATE_PATH} -noout -fingerprint -sha256`

/** What a host presented: enough for an admin to compare it with the host's own answer. */
export interface SeenCertificate {
  /** SHA-256 of the DER certificate, upper-case hex pairs joined by ':' (openssl's format). */
  readonly fingerprint: string
  readonly subject: string
  readonly validFrom: string
  readonly validTo: string
}

export class InvalidFingerprintError extends StrataError {
  constructor(value: string) {
    super(
      'INVALID_FINGERPRINT',
      `'${value.slice(0, 120)}' is not a SHA-256 fingerprint (64 hex digits, with or without colons)`,
    )
  }
}

/**
 * The canonical form of a fingerprint as people paste it: with or without colons, any case, optionally
 * with openssl's `sha256 Fingerprint=` prefix. Anything else is refused.
 */
export function parseFingerprint(value: string): string {
  const bare = value
    .trim()
    .replace(/^(sha-?256\s+)?fingerprint\s*=\s*/i, '')
    .replace(/:/g, '')
  if (!/^[0-9a-f]{64}$/i.test(bare)) throw new InvalidFingerprintError(value)
  return bare.toUpperCase().replace(/(..)(?!$)/g, '$1:')
}

export function describeCertificate(cert: X509Certificate): SeenCertificate {
  return {
    fingerprint: cert.fingerprint256,
    subject: cert.subject.replace(/\n/g, ', '),
    validFrom: cert.validFrom,
    validTo: cert.validTo,
  }
}

/** The fingerprint of a PEM certificate (as `host.get_server_certificate` returns it). */
export function pemFingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256
}

/**
 * A host presented a certificate Strata does not trust: none is pinned for it (first contact,
 * POOL_CERTIFICATE_UNKNOWN) or another one is (POOL_CERTIFICATE_CHANGED). Nothing was sent to the host.
 */
export class PoolCertificateError extends StrataError {
  constructor(
    readonly host: string,
    readonly seen: SeenCertificate | undefined,
    readonly expected: string | undefined,
    /** Why this host was contacted, when it is not obvious (e.g. a master found through HOST_IS_SLAVE). */
    note?: string,
  ) {
    const presented =
      seen === undefined
        ? 'no certificate'
        : `SHA-256 fingerprint ${seen.fingerprint} (${seen.subject}, valid until ${seen.validTo})`
    const check = `Check it on the host with \`${CHECK_ON_HOST}\``
    const message =
      expected === undefined
        ? `the certificate of pool host ${host} is not pinned: it presents ${presented}. ${check}, then pin it ` +
          '(--fingerprint, the pool\'s "fingerprint" in a job file, or accept it in the server)'
        : `the certificate of pool host ${host} changed: pinned ${expected}, presented ${presented}. ` +
          `Refused until an admin accepts the new fingerprint (${check.toLowerCase()}); ` +
          'if nobody renewed it, someone may be intercepting the connection'
    super(
      expected === undefined ? 'POOL_CERTIFICATE_UNKNOWN' : 'POOL_CERTIFICATE_CHANGED',
      note === undefined ? message : `${message}. ${note}`,
      {
        details: { host, expected, ...seen },
      },
    )
  }
}

/** An http:// pool URL without the explicit permission to talk to it in clear text. */
export class InsecurePoolUrlError extends StrataError {
  constructor(url: URL) {
    super(
      'POOL_INSECURE_HTTP',
      `refusing plain HTTP to pool ${url.host}: passwords and session ids would cross the network in clear ` +
        'text; use https://, or allow it explicitly (--insecure-http, "insecureHttp": true)',
      { details: { host: url.host } },
    )
  }
}

/** The certificate a TLS socket's peer presented, after the handshake. */
export function peerCertificate(socket: TLSSocket): SeenCertificate | undefined {
  const cert = socket.getPeerX509Certificate()
  return cert === undefined ? undefined : describeCertificate(cert)
}

/**
 * Reads the certificate of `url`'s host with a bare TLS handshake (nothing is sent over it): what the
 * server shows an admin who adds a pool.
 */
export function probeCertificate(url: URL, signal: AbortSignal): Promise<SeenCertificate> {
  if (signal.aborted) return Promise.reject(new AbortedError(signal.reason))
  const host = url.hostname.replace(/^\[|\]$/g, '')
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host, port: Number(url.port || 443), rejectUnauthorized: false })
    const onAbort = (): void => void socket.destroy(new AbortedError(signal.reason))
    signal.addEventListener('abort', onAbort, { once: true })
    const finish = (error: Error | undefined, seen?: SeenCertificate): void => {
      signal.removeEventListener('abort', onAbort)
      socket.destroy()
      if (error !== undefined) reject(error)
      else resolve(seen!)
    }
    socket.once('secureConnect', () => {
      const seen = peerCertificate(socket)
      finish(seen === undefined ? new PoolCertificateError(url.host, undefined, undefined) : undefined, seen)
    })
    socket.once('error', (cause) =>
      finish(
        cause instanceof AbortedError
          ? cause
          : new XapiConnectionError(`cannot read the certificate of ${url.host}: ${cause.message}`, {
              cause,
            }),
      ),
    )
  })
}
