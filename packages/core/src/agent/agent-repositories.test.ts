import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { AgentRepositories } from './agent-repositories.js'
import type { FromAgent } from './protocol.js'
import { sealForAgent } from './seal.js'

describe("the agent's repository requests", () => {
  it('answers a request it does not know with AGENT_OP_UNKNOWN, opening nothing', async () => {
    const key = randomBytes(32)
    const lines: string[] = []
    const repositories = new AgentRepositories(
      { dataDir: '/nonexistent', log: (l) => lines.push(l) },
      new AbortController().signal,
    )
    // A newer server's request, at a location that would fail to open if it were tried.
    const op = { op: 'teleport', name: 'r', location: '/nonexistent/repository', env: {} }
    const answered = new Promise<FromAgent>((resolve) =>
      repositories.handle(
        { type: 'repository', requestId: 'q-1', sealed: sealForAgent(key, 'q-1', op) },
        key,
        resolve,
      ),
    )
    expect(await answered).toEqual({
      type: 'repository-answer',
      requestId: 'q-1',
      error: {
        code: 'AGENT_OP_UNKNOWN',
        message: "this agent does not know the repository request 'teleport'",
      },
    })
    expect(lines).toEqual([])
  })
})
