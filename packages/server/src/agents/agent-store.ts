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

  async create(name: string, now = Date.now()): Promise<AgentRecord & { token: string }> {
    if ((await this.db.get('SELECT 1 FROM agents WHERE name = ?', [name])) !== undefined)
      throw conflict(`an agent named '${name}' exists already`, 'AGENT_EXISTS')
    const count = ((await this.db.get('SELECT COUNT(*) AS n FROM agents')) as { n: number }).n
    if (count >= MAX_AGENTS) throw conflict(`at most ${MAX_AGENTS} agents`, 'TOO_MANY_AGENTS')
    const id = newId('a')
    const token = `strata_agent_${randomBytes(32).toString('base64url')}`
    const key = agentSealKey(token, id).toString('base64')
    await this.db.run(
      'INSERT INTO agents (id, name, token_hash, seal_key_sealed, created) VALUES (?, ?, ?, ?, ?)',
      [id, name, tokenHash(token), this.box.seal(key, agentSealKeyField(id)), now],
    )
    return { ...(await this.get(id)), token }
  }

  async list(): Promise<AgentRecord[]> {
    return ((await this.db.all('SELECT * FROM agents ORDER BY name')) as AgentRow[]).map(toRecord)
  }

  async get(id: string): Promise<AgentRecord> {
    const row = (await this.db.get('SELECT * FROM agents WHERE id = ?', [id])) as AgentRow | undefined
    if (row === undefined) throw notFound(`agent '${id}'`)
    return toRecord(row)
  }

  /** The agent whose token this is; undefined for any other string (a revoked agent's row is gone). */
  async byToken(token: string): Promise<AgentRecord | undefined> {
    const row = (await this.db.get('SELECT * FROM agents WHERE token_hash = ?', [tokenHash(token)])) as
      AgentRow | undefined
    return row === undefined ? undefined : toRecord(row)
  }

  async delete(id: string): Promise<void> {
    await this.get(id)
    await this.db.run('DELETE FROM agents WHERE id = ?', [id])
  }

  async seen(id: string, version: string | undefined, now = Date.now()): Promise<void> {
    await this.db.run('UPDATE agents SET last_seen = ?, version = COALESCE(?, version) WHERE id = ?', [
      now,
      version ?? null,
      id,
    ])
  }

  async sealKey(id: string): Promise<Buffer> {
    const row = (await this.db.get('SELECT seal_key_sealed FROM agents WHERE id = ?', [id])) as
      { seal_key_sealed: string } | undefined
    if (row === undefined) throw notFound(`agent '${id}'`)
    return Buffer.from(this.box.open(row.seal_key_sealed, agentSealKeyField(id)), 'base64')
  }

  async pools(agentId: string): Promise<string[]> {
    const rows = await this.db.all('SELECT pool_id FROM agent_pools WHERE agent_id = ? ORDER BY pool_id', [
      agentId,
    ])
    return (rows as { pool_id: string }[]).map((r) => r.pool_id)
  }

  async agentOfPool(poolId: string): Promise<string | undefined> {
    const row = await this.db.get('SELECT agent_id FROM agent_pools WHERE pool_id = ?', [poolId])
    return (row as { agent_id: string } | undefined)?.agent_id
  }

  async assign(poolId: string, agentId: string | null): Promise<void> {
    if (agentId === null) {
      await this.db.run('DELETE FROM agent_pools WHERE pool_id = ?', [poolId])
      return
    }
    await this.get(agentId)
    await this.db.run(
      'INSERT INTO agent_pools (pool_id, agent_id) VALUES (?, ?) ON CONFLICT (pool_id) DO UPDATE SET agent_id = excluded.agent_id',
      [poolId, agentId],
    )
  }

  /** The repositories assigned to the agent: the server never opens them, it asks the agent. */
  async repositories(agentId: string): Promise<string[]> {
    const rows = await this.db.all(
      'SELECT repository_id FROM agent_repositories WHERE agent_id = ? ORDER BY repository_id',
      [agentId],
    )
    return (rows as { repository_id: string }[]).map((r) => r.repository_id)
  }

  /** For messages: a repository's name (its id when it has none any more). */
  async repositoryName(repositoryId: string): Promise<string> {
    const row = await this.db.get('SELECT name FROM repositories WHERE id = ?', [repositoryId])
    return (row as { name: string } | undefined)?.name ?? repositoryId
  }

  async agentOfRepository(repositoryId: string): Promise<string | undefined> {
    const row = await this.db.get('SELECT agent_id FROM agent_repositories WHERE repository_id = ?', [
      repositoryId,
    ])
    return (row as { agent_id: string } | undefined)?.agent_id
  }

  async assignRepository(repositoryId: string, agentId: string | null): Promise<void> {
    if (agentId === null) {
      await this.db.run('DELETE FROM agent_repositories WHERE repository_id = ?', [repositoryId])
      return
    }
    await this.get(agentId)
    await this.db.run(
      'INSERT INTO agent_repositories (repository_id, agent_id) VALUES (?, ?) ' +
        'ON CONFLICT (repository_id) DO UPDATE SET agent_id = excluded.agent_id',
      [repositoryId, agentId],
    )
  }
}
