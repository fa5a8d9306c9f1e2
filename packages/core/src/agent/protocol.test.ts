import { describe, expect, it } from 'vitest'
import { AGENT_MAX_MESSAGE_BYTES, AGENT_PROTOCOL_VERSION, parseFromAgent, parseToAgent } from './protocol.js'
import { agentSealKey, openForAgent, sealForAgent } from './seal.js'

const invalid = { code: 'AGENT_MESSAGE_INVALID' }

describe('agent protocol', () => {
  it('reads the messages of each side', () => {
    const hello = {
      type: 'hello',
      protocol: AGENT_PROTOCOL_VERSION,
      version: '0.1.0',
      name: 'site-b',
      session: 's',
    }
    expect(parseFromAgent(JSON.stringify(hello))).toEqual(hello)
    const event = {
      type: 'event',
      runId: '20260101T000000Z-abcdef',
      seq: 1,
      event: { type: 'progress', id: '0.1', time: 1, done: 5 },
    }
    expect(parseFromAgent(JSON.stringify(event))).toEqual(event)
    expect(parseToAgent('{"type":"run","runId":"r-1","sealed":"AAAA"}')).toMatchObject({ type: 'run' })
  })

  it('refuses what is not one of its messages, with a typed error', () => {
    const bad = [
      'not json',
      '[1]',
      '{"type":"shell","cmd":"rm -rf /"}',
      '{"type":"hello","protocol":"1","version":"x"}',
      '{"type":"event","runId":"../../etc","seq":1,"event":{"type":"end","id":"0","time":1}}',
      '{"type":"done","runId":"r-1","seq":1,"result":{"runId":"r-1","status":"success"}}',
      '{"type":"failed","runId":"r-1","seq":1,"error":"boom"}',
      '{"type":"failed","runId":"r-1","error":{"code":"X","message":"no seq"}}',
      '{"type":"event","runId":"r-1","seq":-1,"event":{"type":"end","id":"0","time":1}}',
      JSON.stringify({ type: 'hello', protocol: 1, version: 'x'.repeat(AGENT_MAX_MESSAGE_BYTES) }),
    ]
    for (const text of bad)
      expect(() => parseFromAgent(text), text.slice(0, 60)).toThrow(expect.objectContaining(invalid))
    expect(() => parseToAgent('{"type":"welcome","agentId":""}')).toThrow(expect.objectContaining(invalid))
    expect(() => parseToAgent('{"type":"run","runId":"r 1","sealed":"x"}')).toThrow(
      expect.objectContaining(invalid),
    )
  })
})

describe('orders sealed for one agent', () => {
  it('opens with its key and run only', () => {
    const key = agentSealKey('strata_agent_token-a', 'a-1')
    const sealed = sealForAgent(key, 'run-1', { env: { STRATA_PASSPHRASE: 'secret' } })
    expect(sealed).not.toContain('secret')
    expect(openForAgent(agentSealKey('strata_agent_token-a', 'a-1'), 'run-1', sealed)).toEqual({
      env: { STRATA_PASSPHRASE: 'secret' },
    })
    const other = agentSealKey('strata_agent_token-b', 'a-2')
    expect(() => openForAgent(other, 'run-1', sealed)).toThrow(
      expect.objectContaining({ code: 'AGENT_SEAL_INVALID' }),
    )
    expect(() => openForAgent(key, 'run-2', sealed)).toThrow(
      expect.objectContaining({ code: 'AGENT_SEAL_INVALID' }),
    )
  })
})
