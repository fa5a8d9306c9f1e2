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

  create(
    userId: string,
    name: string,
    days = TOKEN_DEFAULT_DAYS,
    now = Date.now(),
  ): ApiToken & { token: string } {
    this.#prune(now)
    if (this.#live(userId, now) >= TOKENS_PER_USER)
      throw conflict(`at most ${TOKENS_PER_USER} live tokens per user: revoke one first`, 'TOO_MANY_TOKENS')
    const id = newId('t')
    const token = `strata_${randomBytes(32).toString('base64url')}`
    const expires = now + Math.min(days, TOKEN_MAX_DAYS) * DAY_MS
    this.db
      .prepare(
        'INSERT INTO tokens (id, user_id, name, token_hash, created, expires) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(id, userId, name, tokenHash(token), now, expires)
    return { id, name, created: now, expires, token }
  }

  list(userId: string): ApiToken[] {
    const rows = this.db
      .prepare('SELECT * FROM tokens WHERE user_id = ? ORDER BY created')
      .all(userId) as TokenRow[]
    return rows.map(toToken)
  }

  /** Revokes one of the user's tokens (again is fine); 404 for another user's. */
  revoke(userId: string, id: string, now = Date.now()): void {
    const row = this.db.prepare('SELECT * FROM tokens WHERE id = ? AND user_id = ?').get(id, userId)
    if (row === undefined) throw notFound(`token '${id}'`)
    this.db.prepare('UPDATE tokens SET revoked = ? WHERE id = ? AND revoked IS NULL').run(now, id)
  }

  /** The live token's id and user id, noting its use. */
  use(token: string, now = Date.now()): { id: string; userId: string } | undefined {
    const row = this.db
      .prepare('SELECT * FROM tokens WHERE token_hash = ? AND revoked IS NULL AND expires > ?')
      .get(tokenHash(token), now) as TokenRow | undefined
    if (row === undefined) return undefined
    if (row.last_used === null || row.last_used < now - LAST_USED_GRAIN_MS)
      this.db.prepare('UPDATE tokens SET last_used = ? WHERE id = ?').run(now, row.id)
    return { id: row.id, userId: row.user_id }
  }

  /** Whether the token is still live (an event stream checks it now and then). */
  isLive(id: string, now = Date.now()): boolean {
    return (
      this.db
        .prepare('SELECT 1 FROM tokens WHERE id = ? AND revoked IS NULL AND expires > ?')
        .get(id, now) !== undefined
    )
  }

  #live(userId: string, now: number): number {
    const row = this.db
      .prepare('SELECT count(*) AS n FROM tokens WHERE user_id = ? AND revoked IS NULL AND expires > ?')
      .get(userId, now) as { n: number }
    return row.n
  }

  #prune(now: number): void {
    this.db.prepare('DELETE FROM tokens WHERE coalesce(revoked, expires) < ?').run(now - KEEP_ENDED_MS)
  }
}
