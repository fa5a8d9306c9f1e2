// Plain HTTP only on loopback unless TLS is served or the admin allows it (a TLS proxy in front).
import { describe, expect, it } from 'vitest'
import { checkListenPolicy, isLoopbackHost } from './listen-policy.js'

describe('the listening policy', () => {
  it('knows loopback addresses in their spellings', () => {
    for (const host of [
      '127.0.0.1',
      '127.1.2.3',
      '::1',
      '[::1]',
      '0:0:0:0:0:0:0:1',
      '::ffff:127.0.0.1',
      'localhost',
      'LOCALHOST',
    ])
      expect(isLoopbackHost(host), host).toBe(true)
    for (const host of [
      '0.0.0.0',
      '::',
      '',
      '10.0.0.1',
      '128.0.0.1',
      '1::',
      '::2',
      '::ffff:10.0.0.1',
      'strata.example.com',
      'localhost.evil.com',
      '127.0.0.1.nip.io',
    ])
      expect(isLoopbackHost(host), host).toBe(false)
  })

  it('refuses plain HTTP elsewhere, with a reason and what to do', () => {
    expect(() => checkListenPolicy({ host: '0.0.0.0', insecureHttp: false })).toThrow(
      expect.objectContaining({
        code: 'PLAIN_HTTP_REFUSED',
        message: expect.stringMatching(
          /refusing plain HTTP on 0\.0\.0\.0.*--tls self-signed.*--insecure-http/,
        ),
      }),
    )
    expect(() => checkListenPolicy({ host: '192.168.1.10', insecureHttp: false })).toThrow(
      /PLAIN HTTP|plain HTTP/,
    )
    // No proxy named (false, or an empty list) vouches for nothing.
    for (const trustProxy of [false, []])
      expect(() => checkListenPolicy({ host: '0.0.0.0', insecureHttp: false, trustProxy })).toThrow(
        expect.objectContaining({ code: 'PLAIN_HTTP_REFUSED' }),
      )
  })

  it('allows loopback, TLS, or plain HTTP the admin asked for or put behind a trusted proxy', () => {
    expect(() => checkListenPolicy({ host: '127.0.0.1', insecureHttp: false })).not.toThrow()
    expect(() =>
      checkListenPolicy({ host: '0.0.0.0', insecureHttp: false, tls: 'self-signed' }),
    ).not.toThrow()
    expect(() =>
      checkListenPolicy({ host: '::', insecureHttp: false, tls: { cert: '/c.pem', key: '/k.pem' } }),
    ).not.toThrow()
    expect(() => checkListenPolicy({ host: '0.0.0.0', insecureHttp: true })).not.toThrow()
    expect(() => checkListenPolicy({ host: '0.0.0.0', insecureHttp: false, trustProxy: true })).not.toThrow()
    expect(() =>
      checkListenPolicy({
        host: '10.0.0.2',
        insecureHttp: false,
        trustProxy: ['10.0.0.5', '192.168.0.0/16'],
      }),
    ).not.toThrow()
  })
})
