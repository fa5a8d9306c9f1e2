// How the pools page talks about certificates: what the server saw when an admin adds a pool (its 409),
// what a pool whose certificate changed asks of an admin, and short forms of fingerprints for tables.
import { ApiError } from '../api/client'
import type { Pool, SeenCertificate } from '@strata/contract'

/** A certificate to show an admin for acceptance, with the command that prints it on the host. */
export interface CertificateOffer extends SeenCertificate {
  check?: string
}

/** The certificate in a create's 409 (POOL_CERTIFICATE_UNKNOWN), if that is what `error` is. */
export function certificateOffer(error: unknown): CertificateOffer | undefined {
  if (!(error instanceof ApiError) || error.code !== 'POOL_CERTIFICATE_UNKNOWN') return undefined
  const d = (error.details ?? {}) as Partial<CertificateOffer>
  if (typeof d.fingerprint !== 'string') return undefined
  return {
    fingerprint: d.fingerprint,
    subject: d.subject ?? '',
    validFrom: d.validFrom ?? '',
    validTo: d.validTo ?? '',
    ...(typeof d.check === 'string' ? { check: d.check } : {}),
  }
}

/** What a pool refused for its certificate asks of an admin: a new fingerprint to accept. */
export function certificateToAccept(pool: Pool): { fingerprint: string; changed: boolean } | undefined {
  const seen = pool.certificate?.seen
  if (seen === undefined) return undefined
  return { fingerprint: seen.fingerprint, changed: pool.certificate?.expected !== undefined }
}

export function isPlainHttp(url: string): boolean {
  return /^http:\/\//i.test(url.trim())
}

/** `5F:3A:9C:…:5D:6E`: enough to recognise one in a table; the full one is in the title. */
export function shortFingerprint(fingerprint: string): string {
  const pairs = fingerprint.split(':')
  return pairs.length <= 6 ? fingerprint : `${pairs.slice(0, 4).join(':')}:…:${pairs.slice(-2).join(':')}`
}
