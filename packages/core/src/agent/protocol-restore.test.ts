import { describe, expect, it } from 'vitest'
import { parseFromAgent, parseToAgent } from './protocol.js'

const invalid = expect.objectContaining({ code: 'AGENT_MESSAGE_INVALID' })
const restored = (result: unknown, runId = 'r-1') =>
  JSON.stringify({ type: 'restored', runId, seq: 3, result })

describe('agent protocol: restores', () => {
  it('reads a restore order and a restore’s end', () => {
    expect(parseToAgent('{"type":"restore","runId":"r-1","sealed":"AAAA"}')).toEqual({
      type: 'restore',
      runId: 'r-1',
      sealed: 'AAAA',
    })
    const vm = { runId: 'r-1', status: 'success', restored: { vmUuid: 'u-1', vmName: 'web' } }
    expect(parseFromAgent(restored(vm))).toMatchObject({ type: 'restored', seq: 3, result: vm })
    const failed = { runId: 'r-1', status: 'failure', error: { code: 'SR_NOT_FOUND', message: 'no SR' } }
    expect(parseFromAgent(restored(failed))).toMatchObject({ result: failed })
    expect(
      parseFromAgent(restored({ runId: 'r-1', status: 'success', restored: { vdiUuid: 'v' } })),
    ).toMatchObject({ type: 'restored' })
  })

  it('refuses a restore message of a bad shape', () => {
    const bad = [
      '{"type":"restore","runId":"../x","sealed":"AAAA"}',
      '{"type":"restore","runId":"r-1","sealed":""}',
      '{"type":"restore","runId":"r-1"}',
    ]
    for (const text of bad) expect(() => parseToAgent(text), text).toThrow(invalid)
    const badFrom = [
      JSON.stringify({ type: 'restored', runId: 'r-1', result: { runId: 'r-1', status: 'success' } }), // no seq
      restored({ runId: 'r-2', status: 'success' }), // another run's result
      restored({ runId: 'r-1' }),
      restored({ runId: 'r-1', status: 'failure', error: 'boom' }),
      restored({ runId: 'r-1', status: 'success', restored: { vmUuid: 'u' } }),
      restored({ runId: 'r-1', status: 'success', restored: 'vm' }),
      restored('success'),
    ]
    for (const text of badFrom) expect(() => parseFromAgent(text), text).toThrow(invalid)
  })
})
