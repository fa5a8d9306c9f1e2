// Agents: the engine run next to a remote pool, driven by a server over one outbound link.
export * from './agent-errors.js'
export * from './protocol.js'
export * from './protocol-restore.js'
export * from './protocol-download.js'
export * from './seal.js'
export { runAgent, type AgentOptions, type LinkCounters } from './agent-client.js'
export type { RunOrder } from './agent-runs.js'
export { OUTBOX_LIMIT_BYTES } from './outbox.js'
