// Pools in the database: URL, username, the password sealed with the server key (never returned), the
// pinned certificate fingerprint of the URL's host and the permission to use plain HTTP.
import type { Db } from '../db/database.js'
import { conflict, notFound } from '../errors.js'
import { newId } from '../ids.js'
import type { SecretBox } from '../secret-box.js'

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

  list(): PoolRecord[] {
    return (this.db.prepare('SELECT * FROM pools ORDER BY name').all() as Row[]).map(strip)
  }

  get(id: string): PoolRecord {
    return strip(this.#row(id))
  }

  password(id: string): string {
    return this.box.open(this.#row(id).password_sealed)
  }

  create(input: PoolInput): PoolRecord {
    this.#uniqueName(input.name)
    const id = newId('pool')
    this.db
      .prepare(
        'INSERT INTO pools (id, name, url, username, password_sealed, fingerprint, insecure_http) VALUES (?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        id,
        input.name,
        normalizeUrl(input.url),
        input.username ?? 'root',
        this.box.seal(input.password),
        input.fingerprint ?? null,
        input.insecureHttp === true ? 1 : 0,
      )
    return this.get(id)
  }

  update(id: string, change: Partial<PoolInput>): PoolRecord {
    const row = this.#row(id)
    if (change.name !== undefined && change.name !== row.name) this.#uniqueName(change.name)
    this.db
      .prepare(
        'UPDATE pools SET name = ?, url = ?, username = ?, password_sealed = ?, fingerprint = ?, insecure_http = ? WHERE id = ?',
      )
      .run(
        change.name ?? row.name,
        change.url === undefined ? row.url : normalizeUrl(change.url),
        change.username ?? row.username,
        change.password === undefined ? row.password_sealed : this.box.seal(change.password),
        change.fingerprint ?? row.fingerprint,
        (change.insecureHttp ?? row.insecure_http === 1) ? 1 : 0,
        id,
      )
    return this.get(id)
  }

  delete(id: string): void {
    this.#row(id)
    this.db.prepare('DELETE FROM pools WHERE id = ?').run(id)
  }

  #row(id: string): Row {
    const row = this.db.prepare('SELECT * FROM pools WHERE id = ?').get(id) as Row | undefined
    if (row === undefined) throw notFound(`pool '${id}'`)
    return row
  }

  #uniqueName(name: string): void {
    if (this.db.prepare('SELECT 1 FROM pools WHERE name = ?').get(name) !== undefined)
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
const normalizeUrl = (url: string): string => url.replace(/\/+$/, '')
