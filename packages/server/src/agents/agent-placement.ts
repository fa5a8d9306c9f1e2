// Where a job runs, and whether its repositories can be reached from there. A job runs where its pools
// are: on the server, or on the one agent all its pools are assigned to (AGENT_MIXED_POOLS otherwise).
// A repository assigned to an agent is opened only by that agent, so a job may use it only when it runs
// on that agent; a repository of the server's (not assigned) is usable from the server and from an
// agent alike, as before repositories could be assigned (an S3 bucket, a share both mount). Anything
// else is refused when the run starts: 409 AGENT_REPOSITORY_MISMATCH, naming the repository and agent.
import type { Job } from '@strata/core/engine'
import { conflict } from '../errors.js'
import type { AgentStore } from './agent-store.js'

/** The agent the job runs on, undefined for this server; throws the 409 that says why it cannot run. */
export async function placeJob(job: Job, store: AgentStore): Promise<string | undefined> {
  const agents = new Set(await Promise.all(job.pools.map((p) => store.agentOfPool(p.id))))
  if (agents.size > 1)
    throw conflict(
      `job '${job.name ?? job.id}' selects pools of different agents (or of an agent and of the server): a run happens in one place`,
      'AGENT_MIXED_POOLS',
    )
  const agentId = [...agents][0]
  // The engine job names each repository by its id (toEngineJob).
  for (const repo of [...job.repositories, ...job.mirrorTo]) {
    const owner = await store.agentOfRepository(repo.name)
    if (owner === undefined || owner === agentId) continue
    const where = agentId === undefined ? 'on this server' : `on agent '${(await store.get(agentId)).name}'`
    throw conflict(
      `job '${job.name ?? job.id}' runs ${where}, but its repository '${await store.repositoryName(repo.name)}' is assigned to agent ` +
        `'${(await store.get(owner)).name}', which alone opens it: assign the job's pools and repositories to one agent`,
      'AGENT_REPOSITORY_MISMATCH',
    )
  }
  return agentId
}
