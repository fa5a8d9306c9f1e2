// Users, their sessions and API tokens. Session ids and tokens are random 32-byte secrets handed to the
// client once; only their SHA-256 is stored, so a copy of the database opens no session.
import { createHash, randomBytes } from 'node:crypto'
import type { Db } from '../db/database.js'
import { conflict, notFound } from '../errors.js'
import { newId } from '../ids.js'
import { hashPassword } from './passwords.js'

export type Role = 'admin' | 'operator' | 'read-only'
export const ROLES: readonly Role[] = ['admin', 'operator', 'read-only']

export interface User {
  readonly id: string
  readonly username: string
  readonly role: Role
  readonly totp: boolean
}

interface UserRow {
  id: string
  username: string
  role: Role
  password_hash: string
  totp_secret: string | null
  totp_pending: string | null
}

export const SESSION_MS = 12 * 3600_000

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex')
const toUser = (r: UserRow): User => ({
  id: r.id,
  username: r.username,
  role: r.role,
  totp: r.totp_secret !== null,
})

export class Users {
  constructor(readonly db: Db) {}

  list(): User[] {
    return (this.db.prepare('SELECT * FROM users ORDER BY username').all() as UserRow[]).map(toUser)
  }

  row(id: string): UserRow {
    const row = this.db.prepare('SELECT * FROM users WHERE id = ?').get(id) as UserRow | undefined
    if (row === undefined) throw notFound(`user '${id}'`)
    return row
  }

  byName(username: string): UserRow | undefined {
    return this.db.prepare('SELECT * FROM users WHERE username = ?').get(username) as UserRow | undefined
  }

  get(id: string): User {
    return toUser(this.row(id))
  }

  async create(username: string, password: string, role: Role): Promise<User> {
    if (this.byName(username) !== undefined) throw conflict(`a user '${username}' exists already`)
    const id = newId('u')
    this.db
      .prepare('INSERT INTO users (id, username, role, password_hash, created) VALUES (?, ?, ?, ?, ?)')
      .run(id, username, role, await hashPassword(password), Date.now())
    return this.get(id)
  }

  async update(id: string, change: { password?: string; role?: Role }): Promise<User> {
    const row = this.row(id)
    if (change.role !== undefined && change.role !== 'admin' && row.role === 'admin') this.#keepAnAdmin(id)
    const hash = change.password === undefined ? row.password_hash : await hashPassword(change.password)
    this.db
      .prepare('UPDATE users SET role = ?, password_hash = ? WHERE id = ?')
      .run(change.role ?? row.role, hash, id)
    // A new password ends the other sessions: whoever knew the old one is out.
    if (change.password !== undefined) this.db.prepare('DELETE FROM sessions WHERE user_id = ?').run(id)
    return this.get(id)
  }

  delete(id: string): void {
    if (this.row(id).role === 'admin') this.#keepAnAdmin(id)
    this.db.prepare('DELETE FROM users WHERE id = ?').run(id)
  }

  setTotp(id: string, column: 'totp_secret' | 'totp_pending', sealed: string | null): void {
    this.db.prepare(`UPDATE users SET ${column} = ? WHERE id = ?`).run(sealed, id)
  }

  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n
  }

  #keepAnAdmin(id: string): void {
    const others = this.db
      .prepare("SELECT count(*) AS n FROM users WHERE role = 'admin' AND id != ?")
      .get(id) as {
      n: number
    }
    if (others.n === 0) throw conflict('the last admin cannot be removed or demoted', 'LAST_ADMIN')
  }

  // Sessions

  openSession(userId: string, now = Date.now()): { id: string; expires: number } {
    const id = randomBytes(32).toString('base64url')
    const expires = now + SESSION_MS
    this.db.prepare('DELETE FROM sessions WHERE expires < ?').run(now)
    this.db
      .prepare('INSERT INTO sessions (id_hash, user_id, expires) VALUES (?, ?, ?)')
      .run(sha256(id), userId, expires)
    return { id, expires }
  }

  bySession(id: string, now = Date.now()): User | undefined {
    const row = this.db
      .prepare(
        'SELECT u.* FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = ? AND s.expires > ?',
      )
      .get(sha256(id), now) as UserRow | undefined
    return row && toUser(row)
  }

  closeSession(id: string): void {
    this.db.prepare('DELETE FROM sessions WHERE id_hash = ?').run(sha256(id))
  }

  // API tokens

  createToken(userId: string, name: string): { id: string; token: string } {
    const id = newId('t')
    const token = `strata_${randomBytes(32).toString('base64url')}`
    this.db
      .prepare('INSERT INTO tokens (id, user_id, name, token_hash, created) VALUES (?, ?, ?, ?, ?)')
      .run(id, userId, name, sha256(token), Date.now())
    return { id, token }
  }

  tokens(userId: string): { id: string; name: string; created: number }[] {
    return this.db
      .prepare('SELECT id, name, created FROM tokens WHERE user_id = ? ORDER BY created')
      .all(userId) as { id: string; name: string; created: number }[]
  }

  deleteToken(userId: string, id: string): void {
    const { changes } = this.db.prepare('DELETE FROM tokens WHERE id = ? AND user_id = ?').run(id, userId)
    if (changes === 0) throw notFound(`token '${id}'`)
  }

  byToken(token: string): { user: User; tokenId: string } | undefined {
    const row = this.db
      .prepare(
        'SELECT u.*, t.id AS token_id FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?',
      )
      .get(sha256(token)) as (UserRow & { token_id: string }) | undefined
    return row && { user: toUser(row), tokenId: row.token_id }
  }
}
