import { describe, expect, it } from 'vitest'
import { PoolCertificateError, parseFingerprint } from './pool-certificate.js'
import { PoolTrust } from './pool-trust.js'

const HEX = '5f3a9c0e1b2d4f6a8c0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e'
const CANONICAL = HEX.toUpperCase().replace(/(..)(?!$)/g, '$1:')

describe('fingerprints', () => {
  it('reads them with or without colons, in any case, with openssl prefix', () => {
    for (const text of [
      HEX,
      HEX.toUpperCase(),
      CANONICAL,
      CANONICAL.toLowerCase(),
      ` sha256 Fingerprint=${CANONICAL}\n`,
      `SHA256 Fingerprint=${HEX}`,
    ])
      expect(parseFingerprint(text)).toBe(CANONICAL)
  })

  it('refuses anything that is not 32 bytes of hex, with a typed error', () => {
    for (const text of [
      '',
      HEX.slice(2),
      `${HEX}00`,
      HEX.replace('5f', 'zz'),
      `sha1 Fingerprint=${CANONICAL}`,
    ])
      expect(() => parseFingerprint(text)).toThrow(expect.objectContaining({ code: 'INVALID_FINGERPRINT' }))
  })

  it('says which fingerprint a refused host presented and which one was pinned', () => {
    const seen = { fingerprint: CANONICAL, subject: 'CN=xcp1', validFrom: 'a', validTo: 'b' }
    const unknown = new PoolCertificateError('xcp1:443', seen, undefined)
    expect(unknown).toMatchObject({ code: 'POOL_CERTIFICATE_UNKNOWN', retryable: false })
    expect(unknown.message).toContain(CANONICAL)
    expect(unknown.message).toContain('/etc/xensource/xapi-ssl.pem')
    const changed = new PoolCertificateError('xcp1:443', seen, 'AA:BB')
    expect(changed).toMatchObject({
      code: 'POOL_CERTIFICATE_CHANGED',
      details: { expected: 'AA:BB', fingerprint: CANONICAL },
    })
    expect(changed.message).toMatch(/pinned AA:BB, presented .*5F:3A/)
  })
})

describe('PoolTrust', () => {
  it('refuses http:// unless allowed, and anything but http(s)', () => {
    expect(() => new PoolTrust(new URL('http://xcp1'), {})).toThrow(
      expect.objectContaining({ code: 'POOL_INSECURE_HTTP' }),
    )
    expect(new PoolTrust(new URL('http://xcp1'), { insecureHttp: true }).secure).toBe(false)
    expect(() => new PoolTrust(new URL('ftp://xcp1'), { insecureHttp: true })).toThrow(
      expect.objectContaining({ code: 'INVALID_POOL_URL' }),
    )
  })

  it('knows the pool hosts: the named one, the pinned ones, the members XAPI listed', () => {
    const trust = new PoolTrust(new URL('https://XCP1.example:8443'), {
      fingerprint: HEX,
      knownHosts: { '[fd00::2]': HEX },
    })
    expect(trust.expected('xcp1.example')).toBe(CANONICAL)
    expect(trust.expected('fd00::2')).toBe(CANONICAL)
    expect(trust.isPoolHost('10.0.0.3')).toBe(false)
    trust.learn([
      { address: '10.0.0.3', fingerprint: 'AA' },
      { address: 'xcp1.example', fingerprint: 'BB' },
    ])
    expect(trust.isPoolHost('10.0.0.3')).toBe(true)
    expect(trust.expected('10.0.0.3')).toBe('AA')
    expect(trust.expected('xcp1.example')).toBe(CANONICAL) // the admin's pin wins over what XAPI says
    trust.learn([])
    expect(trust.isPoolHost('10.0.0.3')).toBe(false)
  })
})
