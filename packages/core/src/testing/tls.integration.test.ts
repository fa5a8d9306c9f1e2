import { once } from 'node:events'
import { X509Certificate } from 'node:crypto'
import { connect, createServer } from 'node:tls'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireBinary } from './binaries.js'
import { scratchDir, type Scratch } from './scratch.js'
import { makeSelfSignedCertificate, makeTlsFixture, type TlsFixture } from './tls.js'

describe('test certificates (openssl)', () => {
  let scratch: Scratch
  let fixture: TlsFixture

  beforeAll(async () => {
    requireBinary('openssl')
    scratch = await scratchDir()
    fixture = await makeTlsFixture(scratch.path('tls'))
  })
  afterAll(() => scratch?.[Symbol.asyncDispose]())

  it('signs a server certificate that Node verifies against the CA, with mutual TLS', async () => {
    const server = createServer(
      { cert: fixture.server.cert, key: fixture.server.key, ca: fixture.ca.cert, requestCert: true },
      (socket) => socket.end('hello'),
    )
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    try {
      const { port } = server.address() as AddressInfo
      const socket = connect({
        host: '127.0.0.1',
        port,
        servername: 'localhost',
        ca: fixture.ca.cert,
        cert: fixture.client.cert,
        key: fixture.client.key,
      })
      const [data] = (await once(socket, 'data')) as [Buffer]
      expect(data.toString()).toBe('hello')
      expect(socket.authorized).toBe(true)
      socket.destroy()
    } finally {
      server.close()
    }
  })

  it('makes a self-signed host certificate with the requested SANs', async () => {
    const host = await makeSelfSignedCertificate(scratch.path('host'), 'xapi', {
      commonName: 'xcp-host-1',
      altNames: ['xcp-host-1', '10.0.0.11'],
    })
    const x509 = new X509Certificate(host.cert)
    expect(x509.subjectAltName).toBe('DNS:xcp-host-1, IP Address:10.0.0.11')
    expect(x509.checkIssued(x509)).toBe(true)
    expect(new X509Certificate(fixture.server.cert).checkIssued(new X509Certificate(fixture.ca.cert))).toBe(
      true,
    )
  })
})
