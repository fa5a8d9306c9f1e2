import { describe, expect, it } from 'vitest'
import { ApiError } from '../api/client'
import type { Pool } from '@strata/contract'
import { certificateOffer, certificateToAccept, isPlainHttp, shortFingerprint } from './pool-trust'

const FP = Array.from({ length: 32 }, (_, i) => i.toString(16).padStart(2, '0').toUpperCase()).join(':')
const seen = { fingerprint: FP, subject: 'CN=xcp1', validFrom: 'a', validTo: 'b' }
const pool: Pool = {
  id: 'p',
  name: 'p',
  url: 'https://x',
  username: 'root',
  insecureHttp: false,
  connected: false,
}

describe('pool trust', () => {
  it('reads the certificate offered by a 409 on create, and nothing else', () => {
    const offer = new ApiError(409, 'POOL_CERTIFICATE_UNKNOWN', 'not pinned', {
      ...seen,
      check: 'openssl x509',
    })
    expect(certificateOffer(offer)).toEqual({ ...seen, check: 'openssl x509' })
    expect(certificateOffer(new ApiError(409, 'CONFLICT', 'exists', seen))).toBeUndefined()
    expect(certificateOffer(new ApiError(409, 'POOL_CERTIFICATE_UNKNOWN', 'x', {}))).toBeUndefined()
    expect(certificateOffer(new Error('x'))).toBeUndefined()
  })

  it('says what a refused pool asks an admin to accept', () => {
    expect(certificateToAccept(pool)).toBeUndefined()
    expect(certificateToAccept({ ...pool, certificate: { host: 'x', seen, check: 'c' } })).toEqual({
      fingerprint: FP,
      changed: false,
    })
    expect(
      certificateToAccept({ ...pool, certificate: { host: 'x', expected: 'AA', seen, check: 'c' } }),
    ).toEqual({
      fingerprint: FP,
      changed: true,
    })
  })

  it('shortens fingerprints and spots plain HTTP', () => {
    expect(shortFingerprint(FP)).toBe('00:01:02:03:…:1E:1F')
    expect(isPlainHttp(' HTTP://xcp1')).toBe(true)
    expect(isPlainHttp('https://xcp1')).toBe(false)
  })
})
