import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import { XapiClient } from './xapi-client.js'
import { XapiError } from './xapi-error.js'

describe('XapiClient secrets', () => {
  it('never shows the password when inspected or serialised', () => {
    const client = new XapiClient({ url: 'https://127.0.0.1:1', user: 'root', password: 's3cret-pw' })
    expect(inspect(client, { depth: 5 })).not.toContain('s3cret-pw')
    expect(JSON.stringify(client)).not.toContain('s3cret-pw')
  })

  it('hides session refs in SESSION_INVALID errors and session_id in URLs', () => {
    const invalid = XapiError.fromWire({
      code: 1,
      message: 'SESSION_INVALID',
      data: ['OpaqueRef:secret-session'],
    })
    expect(invalid.message).not.toContain('secret-session')
    expect(JSON.stringify(invalid.toJSON())).not.toContain('secret-session')
    const other = XapiError.fromWire(['VDI_IO_ERROR', 'GET /export_raw_vdi?session_id=OpaqueRef:abc&vdi=x'])
    expect(other.message).not.toContain('OpaqueRef:abc')
    expect(inspect(invalid)).not.toContain('secret-session')
    expect(other.params[0]).toBe('GET /export_raw_vdi?session_id=<redacted>&vdi=x')
  })

  it('reads both JSON-RPC error forms', () => {
    expect(XapiError.fromWire(['VDI_IN_USE', 'OpaqueRef:v', 'destroy'])).toMatchObject({
      code: 'VDI_IN_USE',
      params: ['OpaqueRef:v', 'destroy'],
      retryable: true,
    })
    expect(
      XapiError.fromWire({ code: 1, message: 'HANDLE_INVALID', data: ['VM', 'OpaqueRef:x'] }),
    ).toMatchObject({
      code: 'HANDLE_INVALID',
      params: ['VM', 'OpaqueRef:x'],
      retryable: false,
    })
  })
})
