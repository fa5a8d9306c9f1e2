// Agents (docs/agents.md): a process next to a remote pool that runs that pool's jobs with the engine
// and connects out to the server. An admin creates one (its token is shown once), lists them with
// their link's state, revokes one, and assigns pools to it.
import { Type, type Static } from '@sinclair/typebox'
import { Strict, Text } from './schema-helpers.js'

/** `POST /api/agents`. */
export const AgentInput = Strict({
  name: Text(100, {
    pattern: '^[A-Za-z0-9][A-Za-z0-9 ._-]*$',
    errorMessage: "letters, digits, ' ', '.', '_', '-'",
  }),
})
export type AgentInput = Static<typeof AgentInput>

/** `POST /api/agents` → 201: what `strata agent` needs; the token is shown this once, never again. */
export const NewAgent = Type.Object({
  id: Type.String(),
  token: Type.String({ description: 'Shown once: give it to the agent through STRATA_AGENT_TOKEN.' }),
  serverUrl: Type.String({ description: 'The URL the agent connects to (--server).' }),
  fingerprint: Type.String({
    description: "SHA-256 fingerprint of the server's certificate (--fingerprint).",
  }),
})
export type NewAgent = Static<typeof NewAgent>

export const AGENT_STATES = ['online', 'offline'] as const
export type AgentState = (typeof AGENT_STATES)[number]

/** `GET /api/agents` → a list of these. */
export const Agent = Type.Object({
  id: Type.String(),
  name: Type.String(),
  state: Type.Union(AGENT_STATES.map((s) => Type.Literal(s))),
  version: Type.Union([Type.String(), Type.Null()], { description: 'What the agent said at its last link.' }),
  lastSeen: Type.Union([Type.Number(), Type.Null()], { description: 'Its last link or message (ms).' }),
  pools: Type.Array(Type.String(), { description: 'Ids of the pools whose runs it executes.' }),
  repositories: Type.Array(Type.String(), { description: 'Ids of the repositories only it opens.' }),
})
export type Agent = Static<typeof Agent>

/** `PUT /api/pools/:id/agent`: the pool's runs go to this agent (null: back to the server). */
export const PoolAgentInput = Strict({ agentId: Type.Union([Text(100), Type.Null()]) })
export type PoolAgentInput = Static<typeof PoolAgentInput>

/** `PUT /api/repositories/:id/agent`: only this agent opens the repository (null: the server again). */
export const RepositoryAgentInput = PoolAgentInput
export type RepositoryAgentInput = PoolAgentInput
