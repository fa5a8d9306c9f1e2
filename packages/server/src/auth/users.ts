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

  async list(): Promise<User[]> {
    return ((await this.db.all('SELECT * FROM users ORDER BY username')) as UserRow[]).map(toUser)
  }

  async row(id: string): Promise<UserRow> {
    const row = (await this.db.get('SELECT * FROM users WHERE id = ?', [id])) as UserRow | undefined
    if (row === undefined) throw notFound(`user '${id}'`)
    return row
  }

  async byName(username: string): Promise<UserRow | undefined> {
    return (await this.db.get('SELECT * FROM users WHERE username = ?', [username])) as UserRow | undefined
  }

  async get(id: string): Promise<User> {
    return toUser(await this.row(id))
  }

  async find(id: string): Promise<User | undefined> {
    const row = (await this.db.get('SELECT * FROM users WHERE id = ?', [id])) as UserRow | undefined
    return row && toUser(row)
  }

  async create(username: string, password: string, role: Role): Promise<User> {
    if ((await this.byName(username)) !== undefined) throw conflict(`a user '${username}' exists already`)
    const hash = await this.hasher.hash(password)
    const id = newId('u')
    await this.db.run(
      'INSERT INTO users (id, username, role, password_hash, created) VALUES (?, ?, ?, ?, ?)',
      [id, username, role, hash, Date.now()],
    )
    return this.get(id)
  }

  async update(id: string, change: { password?: string; role?: Role }, now = Date.now()): Promise<User> {
    if (change.role !== undefined && change.role !== 'admin' && (await this.row(id)).role === 'admin')
      await this.#keepAnAdmin(id) // before the hash: a refusal costs none
    const hash = change.password === undefined ? undefined : await this.hasher.hash(change.password)
    await this.db.transaction(async () => {
      const row = await this.row(id) // again: the hash took time
      if (change.role !== undefined && change.role !== 'admin' && row.role === 'admin')
        await this.#keepAnAdmin(id)
      await this.db.run('UPDATE users SET role = ?, password_hash = ? WHERE id = ?', [
        change.role ?? row.role,
        hash ?? row.password_hash,
        id,
      ])
      if (hash === undefined) return
      // Whoever knew the old password is out: its sessions and its tokens end.
      await this.db.run('DELETE FROM sessions WHERE user_id = ?', [id])
      await this.db.run('UPDATE tokens SET revoked = ? WHERE user_id = ? AND revoked IS NULL', [now, id])
    })
    return this.get(id)
  }

  async delete(id: string): Promise<void> {
    if ((await this.row(id)).role === 'admin') await this.#keepAnAdmin(id)
    await this.db.run('DELETE FROM users WHERE id = ?', [id])
  }

  async setTotp(id: string, column: 'totp_secret' | 'totp_pending', sealed: string | null): Promise<void> {
    await this.db.run(`UPDATE users SET ${column} = ? WHERE id = ?`, [sealed, id])
  }

  /** Takes a TOTP time step for the user: false if this step or a later one was used already. */
  async useTotpStep(id: string, step: number): Promise<boolean> {
    const { changes } = await this.db.run(
      'UPDATE users SET totp_last_step = ? WHERE id = ? AND (totp_last_step IS NULL OR totp_last_step < ?)',
      [step, id, step],
    )
    return changes === 1
  }

  async count(): Promise<number> {
    return ((await this.db.get('SELECT count(*) AS n FROM users')) as { n: number }).n
  }

  async #keepAnAdmin(id: string): Promise<void> {
    const others = (await this.db.get("SELECT count(*) AS n FROM users WHERE role = 'admin' AND id != ?", [
      id,
    ])) as { n: number }
    if (others.n === 0) throw conflict('the last admin cannot be removed or demoted', 'LAST_ADMIN')
  }

  // Sessions

  async openSession(userId: string, now = Date.now()): Promise<{ id: string; expires: number }> {
    const id = randomBytes(32).toString('base64url')
    const expires = now + SESSION_MS
    await this.db.run('DELETE FROM sessions WHERE expires < ?', [now])
    await this.db.run('INSERT INTO sessions (id_hash, user_id, expires) VALUES (?, ?, ?)', [
      sha256(id),
      userId,
      expires,
    ])
    return { id, expires }
  }

  async bySession(id: string, now = Date.now()): Promise<User | undefined> {
    const row = (await this.db.get(
      'SELECT u.* FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = ? AND s.expires > ?',
      [sha256(id), now],
    )) as UserRow | undefined
    return row && toUser(row)
  }

  async closeSession(id: string): Promise<void> {
    await this.db.run('DELETE FROM sessions WHERE id_hash = ?', [sha256(id)])
  }
}
