// Restores onto an agent's pool run on that agent: the server checks what it can without reaching the
// pool (the repository, the point), then orders the restore from the agent as it orders a run (the
// engine's restore order with the pool's password and the repository's secrets, sealed for that agent
// under the run's id). The agent's worker checks the SR and the VM itself; its task events come back
// through the agent's outbox into the server's run log, so the restore reads as a local one's.
// A repository assigned to an agent is opened by that agent alone: a restore from it runs on that agent,
// onto one of its pools; onto any other pool (the server's, another agent's) it is refused, since the
// data would have to cross sites through the server (409 AGENT_REPOSITORY_MISMATCH).
import type { RestoreOrderSealed } from '@strata/core/agent'
import type { RestoreResult, RestoreWorkerOptions } from '@strata/core/engine'
import { conflict } from '../errors.js'
import { definedEnv, type AgentHub } from './agent-hub.js'

/** Runs a restore elsewhere than in this server's worker processes. */
export type RemoteRestore = (o: RestoreWorkerOptions) => Promise<RestoreResult>

/**
 * Where a restore onto `poolId` from `repositoryId` runs: undefined for this server, its agent's runner
 * when the pool is an agent's (409 AGENT_OFFLINE, naming the agent, when that agent's link is down).
 */
export async function agentRestoreRunner(
  hub: AgentHub,
  poolId: string,
  repositoryId: string,
  what: string,
): Promise<RemoteRestore | undefined> {
  const agentId = await hub.store.agentOfPool(poolId)
  const owner = await hub.store.agentOfRepository(repositoryId)
  if (owner !== undefined && owner !== agentId) {
    const where =
      agentId === undefined ? 'a pool of this server' : `agent '${(await hub.store.get(agentId)).name}'s pool`
    throw conflict(
      `${what} reads repository '${await hub.store.repositoryName(repositoryId)}', which agent ` +
        `'${(await hub.store.get(owner)).name}' alone opens: it can restore onto that agent's pools, not onto ${where}`,
      'AGENT_REPOSITORY_MISMATCH',
    )
  }
  if (agentId === undefined) return undefined
  await hub.requireOnline(agentId, what)
  const sealKey = await hub.store.sealKey(agentId)
  return (o) =>
    hub.follow<RestoreResult>(agentId, sealKey, o, (runId, seal) => {
      // The server's own NAS mount point means nothing there: the agent sets its own (STRATA_HOME).
      const { STRATA_HOME: _serverHome, ...env } = definedEnv(o.env)
      const sealed: RestoreOrderSealed = { order: o.order, env }
      return { type: 'restore', runId, sealed: seal(sealed) }
    })
}
