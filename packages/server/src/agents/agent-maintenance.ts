// Maintenance (gc, check, verify) of a repository assigned to an agent runs on that agent, as a run the
// server numbers and logs: the order goes sealed like a job's, the task's events come back through the
// agent's outbox (so a link that drops mid-gc loses nothing), and the run ends with the agent's result.
import type { MaintenanceKind, MaintenanceSettings } from '@strata/core/engine'
import type { RunResult, TaskEvent } from '@strata/core/engine'
import type { AgentHub } from './agent-hub.js'
import type { AgentRepositoryAccess } from './agent-repository-access.js'

export interface AgentMaintenance {
  /** The agent the repository is assigned to, if any. */
  agentOf(repositoryId: string): Promise<string | undefined>
  isOnline(agentId: string): boolean
  name(agentId: string): Promise<string>
  /** Runs the task there; throws AGENT_OFFLINE (409, naming the agent) when it is not connected. */
  run(o: {
    readonly repositoryId: string
    readonly runId: string
    readonly task: MaintenanceKind
    readonly settings: MaintenanceSettings
    readonly onEvent: (event: TaskEvent) => void
    readonly signal: AbortSignal
  }): Promise<RunResult>
}

export function agentMaintenance(hub: AgentHub, access: AgentRepositoryAccess): AgentMaintenance {
  return {
    agentOf: (id) => access.agentOf(id),
    isOnline: (agentId) => hub.isOnline(agentId),
    name: async (agentId) => (await hub.store.get(agentId)).name,
    run: async (o) => {
      const agentId = (await access.agentOf(o.repositoryId))!
      const target = await access.target(o.repositoryId)
      const order = {
        maintenance: { ...target, repositoryId: o.repositoryId, task: o.task, settings: o.settings },
      }
      return hub.maintain(agentId, o.runId, order, o.onEvent, o.signal)
    },
  }
}
