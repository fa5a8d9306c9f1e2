// Agents as the database keeps them: the hash of each one's token (the token itself is shown once),
// its sealing key (derived from the token, sealed at rest with the server key: what orders for it are
// sealed with), what it said of itself at its last link, and the pools assigned to it.
import { randomBytes } from 'node:crypto'
import { agentSealKey } from '@strata/core/agent'
import type { Db } from '../db/database.js'
import { conflict, notFound } from '../errors.js'
import { newId } from '../ids.js'
import type { SecretBox } from '../secret-box.js'
import { agentSealKeyField } from '../secret-fields.js'
import { tokenHash } from '../auth/tokens.js'

export interface AgentRecord {
  readonly id: string
  readonly name: string
  readonly created: number
  readonly version: string | null
  readonly lastSeen: number | null
}

interface AgentRow {
  id: string
  name: string
  created: number
  version: string | null
  last_seen: number | null
}

/** At most this many agents: every one is a live link and a row the list reads. */
export const MAX_AGENTS = 500

const toRecord = (r: AgentRow): AgentRecord => ({
  id: r.id,
  name: r.name,
  created: r.created,
  version: r.version,
  lastSeen: r.last_seen,
})

export class AgentStore {
  constructor(
    readonly db: Db,
    readonly box: SecretBox,
  ) {}

  create(name: string, now = Date.now()): AgentRecord & { token: string } {
    if (this.db.prepare('SELECT 1 FROM agents WHERE name = ?').get(name) !== undefined)
      throw conflict(`an agent named '${name}' exists already`, 'AGENT_EXISTS')
    const count = (this.db.prepare('SELECT COUNT(*) AS n FROM agents').get() as { n: number }).n
    if (count >= MAX_AGENTS) throw conflict(`at most ${MAX_AGENTS} agents`, 'TOO_MANY_AGENTS')
    const id = newId('a')
    const token = `strata_agent_${randomBytes(32).toString('base64url')}`
    const key = agentSealKey(token, id).toString('base64')
    this.db
      .prepare('INSERT INTO agents (id, name, token_hash, seal_key_sealed, created) VALUES (?, ?, ?, ?, ?)')
      .run(id, name, tokenHash(token), this.box.seal(key, agentSealKeyField(id)), now)
    return { ...this.get(id), token }
  }

  list(): AgentRecord[] {
    return (this.db.prepare('SELECT * FROM agents ORDER BY name').all() as AgentRow[]).map(toRecord)
  }

  get(id: string): AgentRecord {
    const row = this.db.prepare('SELECT * FROM agents WHERE id = ?').get(id) as AgentRow | undefined
    if (row === undefined) throw notFound(`agent '${id}'`)
    return toRecord(row)
  }

  /** The agent whose token this is; undefined for any other string (a revoked agent's row is gone). */
  byToken(token: string): AgentRecord | undefined {
    const row = this.db.prepare('SELECT * FROM agents WHERE token_hash = ?').get(tokenHash(token)) as
      AgentRow | undefined
    return row === undefined ? undefined : toRecord(row)
  }

  delete(id: string): void {
    this.get(id)
    this.db.prepare('DELETE FROM agents WHERE id = ?').run(id)
  }

  seen(id: string, version: string | undefined, now = Date.now()): void {
    this.db
      .prepare('UPDATE agents SET last_seen = ?, version = COALESCE(?, version) WHERE id = ?')
      .run(now, version ?? null, id)
  }

  sealKey(id: string): Buffer {
    const row = this.db.prepare('SELECT seal_key_sealed FROM agents WHERE id = ?').get(id) as
      { seal_key_sealed: string } | undefined
    if (row === undefined) throw notFound(`agent '${id}'`)
    return Buffer.from(this.box.open(row.seal_key_sealed, agentSealKeyField(id)), 'base64')
  }

  pools(agentId: string): string[] {
    const rows = this.db
      .prepare('SELECT pool_id FROM agent_pools WHERE agent_id = ? ORDER BY pool_id')
      .all(agentId)
    return (rows as { pool_id: string }[]).map((r) => r.pool_id)
  }

  agentOfPool(poolId: string): string | undefined {
    const row = this.db.prepare('SELECT agent_id FROM agent_pools WHERE pool_id = ?').get(poolId)
    return (row as { agent_id: string } | undefined)?.agent_id
  }

  assign(poolId: string, agentId: string | null): void {
    if (agentId === null) {
      this.db.prepare('DELETE FROM agent_pools WHERE pool_id = ?').run(poolId)
      return
    }
    this.get(agentId)
    this.db
      .prepare(
        'INSERT INTO agent_pools (pool_id, agent_id) VALUES (?, ?) ON CONFLICT (pool_id) DO UPDATE SET agent_id = excluded.agent_id',
      )
      .run(poolId, agentId)
  }

  /** The repositories assigned to the agent: the server never opens them, it asks the agent. */
  repositories(agentId: string): string[] {
    const rows = this.db
      .prepare('SELECT repository_id FROM agent_repositories WHERE agent_id = ? ORDER BY repository_id')
      .all(agentId)
    return (rows as { repository_id: string }[]).map((r) => r.repository_id)
  }

  /** For messages: a repository's name (its id when it has none any more). */
  repositoryName(repositoryId: string): string {
    const row = this.db.prepare('SELECT name FROM repositories WHERE id = ?').get(repositoryId)
    return (row as { name: string } | undefined)?.name ?? repositoryId
  }

  agentOfRepository(repositoryId: string): string | undefined {
    const row = this.db
      .prepare('SELECT agent_id FROM agent_repositories WHERE repository_id = ?')
      .get(repositoryId)
    return (row as { agent_id: string } | undefined)?.agent_id
  }

  assignRepository(repositoryId: string, agentId: string | null): void {
    if (agentId === null) {
      this.db.prepare('DELETE FROM agent_repositories WHERE repository_id = ?').run(repositoryId)
      return
    }
    this.get(agentId)
    this.db
      .prepare(
        'INSERT INTO agent_repositories (repository_id, agent_id) VALUES (?, ?) ' +
          'ON CONFLICT (repository_id) DO UPDATE SET agent_id = excluded.agent_id',
      )
      .run(repositoryId, agentId)
  }
}
