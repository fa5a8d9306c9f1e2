import { describe, expect, it } from 'vitest'
import { parseNbdUri } from './uri.js'

describe('parseNbdUri', () => {
  it('parses TCP, TLS and unix URIs with encoded export names', () => {
    expect(parseNbdUri('nbd://127.0.0.1:10810/disk')).toEqual({
      host: '127.0.0.1',
      port: 10810,
      exportName: 'disk',
      tls: false,
    })
    expect(parseNbdUri('nbds://xcp-host-1/%2Fuuid%3Fsession_id%3DOpaqueRef%3Ax')).toEqual({
      host: 'xcp-host-1',
      port: 10809,
      exportName: '/uuid?session_id=OpaqueRef:x',
      tls: true,
    })
    expect(parseNbdUri('nbd+unix:///disk?socket=/tmp/a.sock')).toEqual({
      socketPath: '/tmp/a.sock',
      exportName: 'disk',
      tls: false,
    })
    expect(parseNbdUri('nbd://[::1]:10809/')).toMatchObject({ host: '::1', exportName: '' })
  })

  it('refuses what it cannot connect to', () => {
    expect(() => parseNbdUri('http://x/disk')).toThrow(
      expect.objectContaining({ code: 'NBD_INVALID_ARGUMENT' }),
    )
    expect(() => parseNbdUri('nbd+unix:///disk')).toThrow(
      expect.objectContaining({ code: 'NBD_INVALID_ARGUMENT' }),
    )
    expect(() => parseNbdUri('not a uri')).toThrow(expect.objectContaining({ code: 'NBD_INVALID_ARGUMENT' }))
  })
})
