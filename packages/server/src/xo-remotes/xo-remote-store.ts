// XO remotes in the database: name and location, the remote's key and S3 keys sealed with the server
// key (each bound to the remote's row and its column). Secrets leave this store only through secrets(),
// which only the service opening the remote calls.
import type { Db } from '../db/database.js'
import { conflict, notFound } from '../errors.js'
import { newId } from '../ids.js'
import type { S3Keys } from '../repositories/repository-store.js'
import type { SecretBox } from '../secret-box.js'
import { xoRemoteField } from '../secret-fields.js'

export interface XoRemoteRecord {
  readonly id: string
  readonly name: string
  readonly location: string
  /** A key is stored for it. */
  readonly encrypted: boolean
  readonly created: number
}

export interface XoRemoteSecrets {
  readonly key?: string
  readonly s3?: S3Keys
}

export interface XoRemoteInput extends XoRemoteSecrets {
  readonly name: string
  readonly location: string
}

interface Row {
  id: string
  name: string
  location: string
  key_sealed: string | null
  s3_sealed: string | null
  created: number
}

export class XoRemoteStore {
  constructor(
    readonly db: Db,
    readonly box: SecretBox,
  ) {}

  async list(): Promise<XoRemoteRecord[]> {
    return ((await this.db.all('SELECT * FROM xo_remotes ORDER BY name')) as Row[]).map(strip)
  }

  async get(id: string): Promise<XoRemoteRecord> {
    return strip(await this.#row(id))
  }

  async secrets(id: string): Promise<XoRemoteSecrets> {
    const row = await this.#row(id)
    return {
      key:
        row.key_sealed === null ? undefined : this.box.open(row.key_sealed, xoRemoteField(id, 'key_sealed')),
      s3:
        row.s3_sealed === null
          ? undefined
          : (JSON.parse(this.box.open(row.s3_sealed, xoRemoteField(id, 's3_sealed'))) as S3Keys),
    }
  }

  /** Refuses a name taken already (before the remote is opened to check it). */
  async checkName(name: string): Promise<void> {
    if ((await this.db.get('SELECT 1 FROM xo_remotes WHERE name = ?', [name])) !== undefined)
      throw conflict(`an XO remote named '${name}' exists already`)
  }

  async create(input: XoRemoteInput): Promise<XoRemoteRecord> {
    await this.checkName(input.name)
    const id = newId('xo')
    await this.db.run(
      'INSERT INTO xo_remotes (id, name, location, key_sealed, s3_sealed, created) VALUES (?, ?, ?, ?, ?, ?)',
      [
        id,
        input.name,
        input.location,
        this.box.sealOptional(input.key, xoRemoteField(id, 'key_sealed')),
        input.s3 === undefined
          ? null
          : this.box.seal(JSON.stringify(input.s3), xoRemoteField(id, 's3_sealed')),
        Date.now(),
      ],
    )
    return this.get(id)
  }

  async delete(id: string): Promise<void> {
    await this.#row(id)
    await this.db.run('DELETE FROM xo_remotes WHERE id = ?', [id])
  }

  async #row(id: string): Promise<Row> {
    const row = (await this.db.get('SELECT * FROM xo_remotes WHERE id = ?', [id])) as Row | undefined
    if (row === undefined) throw notFound(`XO remote '${id}'`)
    return row
  }
}

const strip = (r: Row): XoRemoteRecord => ({
  id: r.id,
  name: r.name,
  location: r.location,
  encrypted: r.key_sealed !== null,
  created: r.created,
})
