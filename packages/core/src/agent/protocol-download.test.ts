import { describe, expect, it } from 'vitest'
import { parseToAgent } from './protocol.js'
import { parseDownloadFrame } from './protocol-download.js'

const invalid = expect.objectContaining({ code: 'AGENT_MESSAGE_INVALID' })
const ID = 'A'.repeat(43)

describe('agent protocol: downloads', () => {
  it('reads a download order and the frames of its stream', () => {
    expect(parseToAgent(JSON.stringify({ type: 'download', id: ID, sealed: 'AAAA' }))).toEqual({
      type: 'download',
      id: ID,
      sealed: 'AAAA',
    })
    expect(parseDownloadFrame('{"type":"head","length":1024,"name":"p-1-disk0.vhd"}')).toEqual({
      type: 'head',
      length: 1024,
      name: 'p-1-disk0.vhd',
    })
    // Files: one as itself (a length), a selection as an archive made as it streams (no length).
    expect(parseDownloadFrame('{"type":"head","length":5,"name":"report 2024.txt"}')).toEqual({
      type: 'head',
      length: 5,
      name: 'report 2024.txt',
    })
    expect(parseDownloadFrame('{"type":"head","name":"docs.tar.gz","format":"tar.gz"}')).toEqual({
      type: 'head',
      name: 'docs.tar.gz',
      format: 'tar.gz',
    })
    expect(parseDownloadFrame('{"type":"error","code":"POINT_NOT_FOUND","message":"no"}')).toMatchObject({
      code: 'POINT_NOT_FOUND',
    })
    expect(parseDownloadFrame('{"type":"end"}')).toEqual({ type: 'end' })
  })

  it('refuses an order or a frame of a bad shape', () => {
    for (const text of [
      JSON.stringify({ type: 'download', id: 'short', sealed: 'AAAA' }),
      JSON.stringify({ type: 'download', id: `${'A'.repeat(42)}/`, sealed: 'AAAA' }),
      JSON.stringify({ type: 'download', id: ID, sealed: '' }),
    ])
      expect(() => parseToAgent(text), text).toThrow(invalid)
    for (const text of [
      'not json',
      'null',
      '{"type":"head","length":-1,"name":"x.vhd"}',
      '{"type":"head","length":1.5,"name":"x.vhd"}',
      '{"type":"head","length":1,"name":"../etc/passwd"}',
      '{"type":"head","length":1,"name":"a\\"; x=\\"y"}',
      '{"type":"head","name":"x.vhd"}',
      '{"type":"head","name":"x.rar","format":"rar"}',
      '{"type":"error","code":"lower case","message":"m"}',
      '{"type":"shell"}',
      JSON.stringify({ type: 'error', code: 'X', message: 'm'.repeat(5000) }),
    ])
      expect(() => parseDownloadFrame(text), text).toThrow(invalid)
  })
})
