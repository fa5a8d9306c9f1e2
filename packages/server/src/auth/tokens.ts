// API tokens: random 32-byte secrets handed to their owner once; only their SHA-256 is stored. Each has
// an expiry (at most a year), a last-used time and can be revoked; a new password revokes every token
// of its user (Users.update). Revoked and expired tokens stay listed for a month, then go.
import { createHash, randomBytes } from 'node:crypto'
import { TOKEN_DEFAULT_DAYS, TOKEN_MAX_DAYS, type ApiToken as ApiTokenView } from '@strata/contract'
import type { Db } from '../db/database.js'
import { conflict, notFound } from '../errors.js'
import { newId } from '../ids.js'

/** As the API shows it (the contract's shape). */
export type ApiToken = ApiTokenView

interface TokenRow {
  id: string
  user_id: string
  name: string
  created: number
  expires: number
  last_used: number | null
  revoked: number | null
}

const DAY_MS = 86_400_000
// The limits a request may ask for are the contract's (TokenInput).
export { TOKEN_DEFAULT_DAYS, TOKEN_MAX_DAYS }
/** Live tokens one user may hold. */
export const TOKENS_PER_USER = 20
/** Ended tokens are listed this long, then deleted. */
const KEEP_ENDED_MS = 30 * DAY_MS
/** last_used is written at most this often per token: a busy script is not a write per request. */
const LAST_USED_GRAIN_MS = 60_000

export const tokenHash = (token: string): string => createHash('sha256').update(token).digest('hex')

const toToken = (r: TokenRow): ApiToken => ({
  id: r.id,
  name: r.name,
  created: r.created,
  expires: r.expires,
  ...(r.last_used === null ? {} : { lastUsed: r.last_used }),
  ...(r.revoked === null ? {} : { revoked: r.revoked }),
})

export class ApiTokens {
  constructor(readonly db: Db) {}

  async create(
    userId: string,
    name: string,
    days = TOKEN_DEFAULT_DAYS,
    now = Date.now(),
  ): Promise<ApiToken & { token: string }> {
    await this.#prune(now)
    if ((await this.#live(userId, now)) >= TOKENS_PER_USER)
      throw conflict(`at most ${TOKENS_PER_USER} live tokens per user: revoke one first`, 'TOO_MANY_TOKENS')
    const id = newId('t')
    const token = `strata_${randomBytes(32).toString('base64url')}`
    const expires = now + Math.min(days, TOKEN_MAX_DAYS) * DAY_MS
    await this.db.run(
      'INSERT INTO tokens (id, user_id, name, token_hash, created, expires) VALUES (?, ?, ?, ?, ?, ?)',
      [id, userId, name, tokenHash(token), now, expires],
    )
    return { id, name, created: now, expires, token }
  }

  async list(userId: string): Promise<ApiToken[]> {
    const rows = (await this.db.all('SELECT * FROM tokens WHERE user_id = ? ORDER BY created', [
      userId,
    ])) as TokenRow[]
    return rows.map(toToken)
  }

  /** Revokes one of the user's tokens (again is fine); 404 for another user's. */
  async revoke(userId: string, id: string, now = Date.now()): Promise<void> {
    const row = await this.db.get('SELECT * FROM tokens WHERE id = ? AND user_id = ?', [id, userId])
    if (row === undefined) throw notFound(`token '${id}'`)
    await this.db.run('UPDATE tokens SET revoked = ? WHERE id = ? AND revoked IS NULL', [now, id])
  }

  /** The live token's id and user id, noting its use. */
  async use(token: string, now = Date.now()): Promise<{ id: string; userId: string } | undefined> {
    const row = (await this.db.get(
      'SELECT * FROM tokens WHERE token_hash = ? AND revoked IS NULL AND expires > ?',
      [tokenHash(token), now],
    )) as TokenRow | undefined
    if (row === undefined) return undefined
    if (row.last_used === null || row.last_used < now - LAST_USED_GRAIN_MS)
      await this.db.run('UPDATE tokens SET last_used = ? WHERE id = ?', [now, row.id])
    return { id: row.id, userId: row.user_id }
  }

  /** Whether the token is still live (an event stream checks it now and then). */
  async isLive(id: string, now = Date.now()): Promise<boolean> {
    return (
      (await this.db.get('SELECT 1 FROM tokens WHERE id = ? AND revoked IS NULL AND expires > ?', [
        id,
        now,
      ])) !== undefined
    )
  }

  async #live(userId: string, now: number): Promise<number> {
    const row = (await this.db.get(
      'SELECT count(*) AS n FROM tokens WHERE user_id = ? AND revoked IS NULL AND expires > ?',
      [userId, now],
    )) as { n: number }
    return row.n
  }

  async #prune(now: number): Promise<void> {
    await this.db.run('DELETE FROM tokens WHERE coalesce(revoked, expires) < ?', [now - KEEP_ENDED_MS])
  }
}
