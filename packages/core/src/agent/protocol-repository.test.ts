import { describe, expect, it } from 'vitest'
import { parseFromAgent, parseToAgent } from './protocol.js'

const invalid = { code: 'AGENT_MESSAGE_INVALID' }

describe('repository messages of the agent protocol', () => {
  it('reads a request and its answers (a result, or an error)', () => {
    const request = { type: 'repository', requestId: 'q-1', sealed: 'AAAA' }
    expect(parseToAgent(JSON.stringify(request))).toEqual(request)
    const result = { type: 'repository-answer', requestId: 'q-1', result: { bytes: 1, chunks: 1 } }
    expect(parseFromAgent(JSON.stringify(result))).toEqual(result)
    const error = { type: 'repository-answer', requestId: 'q-1', error: { code: 'X', message: 'no' } }
    expect(parseFromAgent(JSON.stringify(error))).toEqual(error)
  })

  it('refuses bad shapes with a typed error', () => {
    const toAgent = [
      { type: 'repository', sealed: 'AAAA' },
      { type: 'repository', requestId: 'a/b', sealed: 'AAAA' },
      { type: 'repository', requestId: 'x'.repeat(65), sealed: 'AAAA' },
      { type: 'repository', requestId: 'q', sealed: '' },
      { type: 'repository', requestId: 'q', sealed: 7 },
    ]
    for (const m of toAgent)
      expect(() => parseToAgent(JSON.stringify(m)), JSON.stringify(m)).toThrow(
        expect.objectContaining(invalid),
      )
    const fromAgent = [
      { type: 'repository-answer', requestId: 'q' },
      { type: 'repository-answer', requestId: 'q', result: 1, error: { code: 'X', message: 'm' } },
      { type: 'repository-answer', result: 1 },
      { type: 'repository-answer', requestId: 'q', error: 'no' },
      { type: 'repository-answer', requestId: 'q', error: { code: '', message: 'm' } },
      { type: 'repository-answer', requestId: 'q', error: { code: 'X'.repeat(101), message: 'm' } },
      { type: 'repository-answer', requestId: 'q', error: { code: 'X' } },
    ]
    for (const m of fromAgent)
      expect(() => parseFromAgent(JSON.stringify(m)), JSON.stringify(m)).toThrow(
        expect.objectContaining(invalid),
      )
  })
})
