// The agent's side of "never twice per schedule tick": orders for one tick, under other run ids (a
// server that fired it again, or sent it again after a restart), start the job once; the others end
// skipped, saying which run ran the tick. The job itself is the engine's elsewhere (agent integration
// tests); here a runner that counts.
import { afterEach, describe, expect, it } from 'vitest'
import type { Job } from '../engine/index.js'
import { scratchDir, type Scratch } from '../testing/index.js'
import { AgentRuns } from './agent-runs.js'
import type { FromAgent } from './protocol.js'
import { agentSealKey, sealForAgent } from './seal.js'

const job = { id: 'job-1', pools: [], repositories: [], mirrorTo: [] } as unknown as Job

describe('runs on an agent', () => {
  let scratch: Scratch | undefined
  afterEach(async () => scratch?.[Symbol.asyncDispose]())

  const agent = (dataDir: string, started: string[], sent: FromAgent[]) => {
    const runs = new AgentRuns({
      token: 'token',
      dataDir,
      log: () => undefined,
      runJob: async (o) => {
        started.push(o.runId!)
        return { runId: o.runId!, status: 'success', vms: [] }
      },
    })
    runs.attach('a-1', 0, (m) => sent.push(m))
    const key = agentSealKey('token', 'a-1')
    const order = (runId: string, at?: number) => ({
      type: 'run' as const,
      runId,
      sealed: sealForAgent(key, runId, {
        job,
        scheduleId: 's-1',
        ...(at === undefined ? {} : { tick: { jobId: job.id, at } }),
        env: {},
      }),
    })
    return { runs, order }
  }
  const ends = (sent: FromAgent[]) =>
    sent.flatMap((m) => (m.type === 'done' ? [[m.runId, m.result.status]] : []))

  it('runs a schedule tick once, whatever number of orders for it come, across a restart', async () => {
    scratch = await scratchDir('strata-agent-runs-')
    const started: string[] = []
    const sent: FromAgent[] = []
    const first = agent(scratch.path('agent'), started, sent)
    first.runs.handle(first.order('r1', 60_000))
    await first.runs.stopAll()
    first.runs.handle(first.order('r2', 60_000)) // the same tick again
    first.runs.handle(first.order('r3', 120_000)) // the next tick
    first.runs.handle(first.order('r4')) // a run by hand: no tick
    await first.runs.stopAll()
    expect(started).toEqual(['r1', 'r3', 'r4'])
    expect(ends(sent)).toEqual([
      ['r1', 'success'],
      ['r2', 'skipped'],
      ['r3', 'success'],
      ['r4', 'success'],
    ])
    const said = sent.find((m) => m.type === 'event' && m.runId === 'r2' && m.event.type === 'end')
    expect(said).toMatchObject({
      event: {
        id: '0',
        status: 'skipped',
        error: { code: 'AGENT_TICK_DONE', message: expect.stringContaining('r1') },
      },
    })
    // Another process of the agent: the record is on disk.
    const sentAfter: FromAgent[] = []
    const second = agent(scratch.path('agent'), started, sentAfter)
    second.runs.handle(second.order('r5', 60_000))
    await second.runs.stopAll()
    expect(started).toEqual(['r1', 'r3', 'r4'])
    expect(ends(sentAfter)).toEqual([['r5', 'skipped']])
  })
})
