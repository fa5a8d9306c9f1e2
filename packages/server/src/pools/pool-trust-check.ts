// What the server checks before it stores a pool: plain HTTP only with the explicit permission, and for
// https:// a fingerprint the admin accepted (normalized). Without one, the host's certificate is read
// with a bare TLS handshake (no credentials sent) and refused with a 409 that shows it, for the admin to
// compare with the host's own answer and send back.
import {
  CHECK_ON_HOST,
  PoolCertificateError,
  parseFingerprint,
  probeCertificate,
  type SeenCertificate,
} from '@strata/core/xapi'
import { ApiError, invalid } from '../errors.js'

const PROBE_TIMEOUT_MS = 10_000

export interface ProbeResult extends SeenCertificate {
  readonly url: string
  /** The command that prints the same fingerprint on the host. */
  readonly check: string
}

export interface PoolTrustInput {
  readonly url: string
  readonly fingerprint?: string
  readonly insecureHttp?: boolean
}

/** The certificate `url`'s host presents: what an admin checks before accepting it. */
export async function probePool(url: string, closing: AbortSignal): Promise<ProbeResult> {
  const parsed = new URL(url)
  if (parsed.protocol !== 'https:')
    throw invalid(`${url}: plain HTTP has no certificate to check`, 'body/url')
  const seen = await probeCertificate(
    parsed,
    AbortSignal.any([closing, AbortSignal.timeout(PROBE_TIMEOUT_MS)]),
  )
  return { url, ...seen, check: CHECK_ON_HOST }
}

/** The normalized fingerprint to store; throws 400 (plain HTTP not allowed) or 409 (no fingerprint yet). */
export async function checkPoolTrust(
  input: PoolTrustInput,
  closing: AbortSignal,
): Promise<{ fingerprint?: string }> {
  const fingerprint = input.fingerprint === undefined ? undefined : parseFingerprint(input.fingerprint)
  const kept = fingerprint === undefined ? {} : { fingerprint }
  const url = new URL(input.url)
  if (url.protocol === 'http:') {
    if (input.insecureHttp !== true) throw insecureHttp(input.url)
    return kept
  }
  if (fingerprint !== undefined) return kept
  // details: the certificate seen, and the command that shows its fingerprint on the host.
  const refused = new PoolCertificateError(url.host, await probePool(input.url, closing), undefined)
  throw new ApiError(409, refused.code, refused.message, refused.details)
}

export function insecureHttp(url: string): ApiError {
  return new ApiError(
    400,
    'POOL_INSECURE_HTTP',
    `${url}: plain HTTP sends the pool's password and session ids in clear text; use https://, or set insecureHttp`,
    { field: 'body/insecureHttp' },
  )
}
