// Users and their sessions. Session ids are random 32-byte secrets handed to the client once; only
// their SHA-256 is stored, so a copy of the database opens no session. Passwords are hashed through
// the PasswordHasher (bounded concurrency); a new password ends every session and revokes every API
// token of its user.
import { createHash, randomBytes } from 'node:crypto'
import type { Db } from '../db/database.js'
import { conflict, notFound } from '../errors.js'
import { newId } from '../ids.js'
import type { PasswordHasher } from './password-hasher.js'

export type Role = 'admin' | 'operator' | 'read-only'
export const ROLES: readonly Role[] = ['admin', 'operator', 'read-only']

export interface User {
  readonly id: string
  readonly username: string
  readonly role: Role
  readonly totp: boolean
}

export interface UserRow {
  id: string
  username: string
  role: Role
  password_hash: string
  totp_secret: string | null
  totp_pending: string | null
  totp_last_step: number | null
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
  constructor(
    readonly db: Db,
    readonly hasher: PasswordHasher,
  ) {}

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

  find(id: string): User | undefined {
    const row = this.db.prepare('SELECT * FROM users WHERE id = ?').get(id) as UserRow | undefined
    return row && toUser(row)
  }

  async create(username: string, password: string, role: Role): Promise<User> {
    if (this.byName(username) !== undefined) throw conflict(`a user '${username}' exists already`)
    const hash = await this.hasher.hash(password)
    const id = newId('u')
    this.db
      .prepare('INSERT INTO users (id, username, role, password_hash, created) VALUES (?, ?, ?, ?, ?)')
      .run(id, username, role, hash, Date.now())
    return this.get(id)
  }

  async update(id: string, change: { password?: string; role?: Role }, now = Date.now()): Promise<User> {
    if (change.role !== undefined && change.role !== 'admin' && this.row(id).role === 'admin')
      this.#keepAnAdmin(id) // before the hash: a refusal costs none
    const hash = change.password === undefined ? undefined : await this.hasher.hash(change.password)
    this.db.transaction(() => {
      const row = this.row(id) // again: the hash took time
      if (change.role !== undefined && change.role !== 'admin' && row.role === 'admin') this.#keepAnAdmin(id)
      this.db
        .prepare('UPDATE users SET role = ?, password_hash = ? WHERE id = ?')
        .run(change.role ?? row.role, hash ?? row.password_hash, id)
      if (hash === undefined) return
      // Whoever knew the old password is out: its sessions and its tokens end.
      this.db.prepare('DELETE FROM sessions WHERE user_id = ?').run(id)
      this.db.prepare('UPDATE tokens SET revoked = ? WHERE user_id = ? AND revoked IS NULL').run(now, id)
    })()
    return this.get(id)
  }

  delete(id: string): void {
    if (this.row(id).role === 'admin') this.#keepAnAdmin(id)
    this.db.prepare('DELETE FROM users WHERE id = ?').run(id)
  }

  setTotp(id: string, column: 'totp_secret' | 'totp_pending', sealed: string | null): void {
    this.db.prepare(`UPDATE users SET ${column} = ? WHERE id = ?`).run(sealed, id)
  }

  /** Takes a TOTP time step for the user: false if this step or a later one was used already. */
  useTotpStep(id: string, step: number): boolean {
    const { changes } = this.db
      .prepare(
        'UPDATE users SET totp_last_step = ? WHERE id = ? AND (totp_last_step IS NULL OR totp_last_step < ?)',
      )
      .run(step, id, step)
    return changes === 1
  }

  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n
  }

  #keepAnAdmin(id: string): void {
    const others = this.db
      .prepare("SELECT count(*) AS n FROM users WHERE role = 'admin' AND id != ?")
      .get(id) as { n: number }
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
}
