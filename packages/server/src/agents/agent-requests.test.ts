// The bookkeeping of requests to agents: each answered once, by its own agent; a link that goes takes
// its pending requests with it (AGENT_UNREACHABLE, naming the agent, or its id once it is revoked); an
// agent that is not connected is said unreachable at once. The real link is agent-repositories'
// integration test; here links that record what is sent.
import { describe, expect, it } from 'vitest'
import { agentSealKey, type ToAgent } from '@strata/core/agent'
import { AgentRequests } from './agent-requests.js'

/** The request is sent once its agent's name and key are read. */
const tick = () => new Promise((resolve) => setImmediate(resolve))
const op = { op: 'usage' as const, name: 'at-b', location: '/srv/b', env: {} }

function requests(online: Set<string>, names: Map<string, string>) {
  const sent: { agentId: string; m: ToAgent }[] = []
  const r = new AgentRequests({
    send: (agentId, m) => online.has(agentId) && sent.push({ agentId, m }) > 0,
    sealKey: async (agentId) => agentSealKey('token', agentId),
    name: async (agentId) => {
      const name = names.get(agentId)
      if (name === undefined) throw new Error(`agent '${agentId}' does not exist`)
      return name
    },
  })
  const lastId = () => (sent.at(-1)!.m as { requestId: string }).requestId
  return { r, sent, lastId }
}

describe('requests to agents', () => {
  it('resolves with its own agent answer, and ignores a late one', async () => {
    const { r, lastId } = requests(
      new Set(['a-1', 'a-2']),
      new Map([
        ['a-1', 'site-b'],
        ['a-2', 'other'],
      ]),
    )
    const asked = r.ask('a-1', op, 'measuring', AbortSignal.timeout(10_000))
    await tick()
    const id = lastId()
    expect(r.answer('a-2', { type: 'repository-answer', requestId: id, result: 1 })).toBe(false)
    expect(r.answer('a-1', { type: 'repository-answer', requestId: id, result: { bytes: 1 } })).toBe(true)
    await expect(asked).resolves.toEqual({ bytes: 1 })
    expect(r.answer('a-1', { type: 'repository-answer', requestId: id, result: 2 })).toBe(true)
  })

  it("rejects with the agent's error, named", async () => {
    const { r, lastId } = requests(new Set(['a-1']), new Map([['a-1', 'site-b']]))
    const asked = r.ask('a-1', op, 'measuring', AbortSignal.timeout(10_000))
    await tick()
    r.answer('a-1', {
      type: 'repository-answer',
      requestId: lastId(),
      error: { code: 'NOT_A_REPOSITORY', message: 'no' },
    })
    await expect(asked).rejects.toMatchObject({ code: 'NOT_A_REPOSITORY', message: "agent 'site-b': no" })
  })

  it('says an agent unreachable when it is offline, or when its link goes (revoked: by its id)', async () => {
    const names = new Map([['a-1', 'site-b']])
    const { r } = requests(new Set(['a-1']), names)
    await expect(r.ask('a-9', op, 'measuring', AbortSignal.timeout(10_000))).rejects.toThrow('does not exist')
    const { r: offline } = requests(new Set(), names)
    await expect(offline.ask('a-1', op, 'measuring', AbortSignal.timeout(10_000))).rejects.toMatchObject({
      status: 503,
      code: 'AGENT_UNREACHABLE',
      message: expect.stringContaining("agent 'site-b' is unreachable"),
    })
    const first = r.ask('a-1', op, 'measuring', AbortSignal.timeout(10_000))
    await tick()
    r.linkDown('a-1')
    await expect(first).rejects.toMatchObject({ code: 'AGENT_UNREACHABLE' })
    const second = r.ask('a-1', op, 'measuring', AbortSignal.timeout(10_000))
    await tick()
    names.delete('a-1') // revoked: its row goes before its link
    expect(() => r.linkDown('a-1')).not.toThrow()
    await expect(second).rejects.toMatchObject({
      code: 'AGENT_UNREACHABLE',
      message: expect.stringContaining("'a-1'"),
    })
  })

  it("gives up with its caller's signal", async () => {
    const { r } = requests(new Set(['a-1']), new Map([['a-1', 'site-b']]))
    await expect(r.ask('a-1', op, 'measuring', AbortSignal.timeout(20))).rejects.toMatchObject({
      status: 504,
      code: 'AGENT_TIMEOUT',
    })
  })
})
