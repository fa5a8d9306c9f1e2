// The server's agent services, made together: the agents' store, their live links (the hub), the
// repositories assigned to them (reached through them) and the downloads streamed from them.
import type { Db } from '../db/db-handle.js'
import type { RepositoryStore } from '../repositories/repository-store.js'
import type { SecretBox } from '../secret-box.js'
import type { ServerLog } from '../server-log.js'
import { AgentDownloads } from './agent-downloads.js'
import { AgentHub } from './agent-hub.js'
import { AgentRepositoryAccess } from './agent-repository-access.js'
import { AgentStore } from './agent-store.js'

export interface AgentServices {
  readonly agents: AgentStore
  readonly agentHub: AgentHub
  readonly agentRepositories: AgentRepositoryAccess
  readonly agentDownloads: AgentDownloads
}

export function agentServices(
  db: Db,
  box: SecretBox,
  log: ServerLog,
  repositories: RepositoryStore,
): AgentServices {
  const agents = new AgentStore(db, box)
  const agentHub = new AgentHub(agents, log)
  return {
    agents,
    agentHub,
    agentRepositories: new AgentRepositoryAccess(agentHub, agents, repositories),
    agentDownloads: new AgentDownloads(agentHub, repositories, log),
  }
}
