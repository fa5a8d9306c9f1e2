// Pools in the database: URL, username, the password sealed with the server key and bound to the pool's
// row (never returned), the pinned certificate fingerprint of the URL's host and the permission to use
// plain HTTP. A pool's URL changes only with its password given again: otherwise whoever holds an admin
// session could point the pool at a host of theirs and receive the stored password at the next login.
// The pin belongs to the host the URL names, so a new URL drops it unless the change names a new one.
import type { Db } from '../db/database.js'
import { conflict, invalid, notFound } from '../errors.js'
import { newId } from '../ids.js'
import type { SecretBox } from '../secret-box.js'
import { poolPasswordField } from '../secret-fields.js'

export interface PoolRecord {
  readonly id: string
  readonly name: string
  readonly url: string
  readonly username: string
  /** SHA-256 of the certificate an admin accepted (canonical form); undefined: none yet. */
  readonly fingerprint?: string
  readonly insecureHttp: boolean
}

export interface PoolInput {
  readonly name: string
  readonly url: string
  readonly username?: string
  readonly password: string
  readonly fingerprint?: string
  readonly insecureHttp?: boolean
}

interface Row extends Omit<PoolRecord, 'fingerprint' | 'insecureHttp'> {
  password_sealed: string
  fingerprint: string | null
  insecure_http: number
}

export class PoolStore {
  constructor(
    readonly db: Db,
    readonly box: SecretBox,
  ) {}

  async list(): Promise<PoolRecord[]> {
    return ((await this.db.all('SELECT * FROM pools ORDER BY name')) as Row[]).map(strip)
  }

  async get(id: string): Promise<PoolRecord> {
    return strip(await this.#row(id))
  }

  async password(id: string): Promise<string> {
    return this.box.open((await this.#row(id)).password_sealed, poolPasswordField(id))
  }

  async create(input: PoolInput): Promise<PoolRecord> {
    await this.#uniqueName(input.name)
    const id = newId('pool')
    await this.db.run(
      'INSERT INTO pools (id, name, url, username, password_sealed, fingerprint, insecure_http) VALUES (?, ?, ?, ?, ?, ?, ?)',
      [
        id,
        input.name,
        normalizeUrl(input.url),
        input.username ?? 'root',
        this.box.seal(input.password, poolPasswordField(id)),
        input.fingerprint ?? null,
        input.insecureHttp === true ? 1 : 0,
      ],
    )
    return this.get(id)
  }

  /** Refuses a change that update() would refuse, before anything slow (a probe of a new URL) runs. */
  async checkUpdate(id: string, change: Partial<PoolInput>): Promise<void> {
    const row = await this.#row(id)
    if (change.name !== undefined && change.name !== row.name) await this.#uniqueName(change.name)
    const url = change.url === undefined ? row.url : normalizeUrl(change.url)
    if (url !== row.url && change.password === undefined)
      throw invalid(
        `changing the URL of pool '${row.name}' needs its password again (the stored one is only sent to ${row.url})`,
        'body/password',
      )
  }

  async update(id: string, change: Partial<PoolInput>): Promise<PoolRecord> {
    await this.checkUpdate(id, change)
    const row = await this.#row(id)
    const url = change.url === undefined ? row.url : normalizeUrl(change.url)
    await this.db.run(
      'UPDATE pools SET name = ?, url = ?, username = ?, password_sealed = ?, fingerprint = ?, insecure_http = ? WHERE id = ?',
      [
        change.name ?? row.name,
        url,
        change.username ?? row.username,
        change.password === undefined
          ? row.password_sealed
          : this.box.seal(change.password, poolPasswordField(id)),
        change.fingerprint ?? (url === row.url ? row.fingerprint : null),
        (change.insecureHttp ?? row.insecure_http === 1) ? 1 : 0,
        id,
      ],
    )
    return this.get(id)
  }

  async delete(id: string): Promise<void> {
    await this.#row(id)
    await this.db.run('DELETE FROM pools WHERE id = ?', [id])
  }

  async #row(id: string): Promise<Row> {
    const row = (await this.db.get('SELECT * FROM pools WHERE id = ?', [id])) as Row | undefined
    if (row === undefined) throw notFound(`pool '${id}'`)
    return row
  }

  async #uniqueName(name: string): Promise<void> {
    if ((await this.db.get('SELECT 1 FROM pools WHERE name = ?', [name])) !== undefined)
      throw conflict(`a pool named '${name}' exists already`)
  }
}

const strip = ({ id, name, url, username, fingerprint, insecure_http }: Row): PoolRecord => ({
  id,
  name,
  url,
  username,
  ...(fingerprint === null ? {} : { fingerprint }),
  insecureHttp: insecure_http === 1,
})
export const normalizeUrl = (url: string): string => url.replace(/\/+$/, '')
