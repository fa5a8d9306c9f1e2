// Repositories in the database: name, location, the passphrase and S3 keys sealed with the server key
// (each bound to the repository's row and its column), and the repository's identity as found when it
// was added (compared at every open).
import { parseIdentity, type RepositoryIdentity } from '@strata/core/repository'
import type { Db } from '../db/database.js'
import { conflict, notFound } from '../errors.js'
import { newId } from '../ids.js'
import type { SecretBox } from '../secret-box.js'
import { repositoryField } from '../secret-fields.js'

export interface RepositoryRecord {
  readonly id: string
  readonly name: string
  readonly location: string
  readonly encrypted: boolean
  /** The repository's id, encryption, config fingerprint and seal state, recorded when it was added. */
  readonly identity?: RepositoryIdentity
}

export interface S3Keys {
  readonly accessKeyId: string
  readonly secretAccessKey: string
}

export interface RepositoryInput {
  readonly name: string
  readonly location: string
  readonly passphrase?: string
  readonly s3?: S3Keys
}

/** What opening a repository needs; never leaves the server. */
export interface RepositorySecrets {
  readonly passphrase?: string
  readonly s3?: S3Keys
}

interface Row {
  id: string
  name: string
  location: string
  passphrase_sealed: string | null
  s3_sealed: string | null
  identity: string | null
}

export class RepositoryStore {
  constructor(
    readonly db: Db,
    readonly box: SecretBox,
  ) {}

  async list(): Promise<RepositoryRecord[]> {
    return ((await this.db.all('SELECT * FROM repositories ORDER BY name')) as Row[]).map(strip)
  }

  async get(id: string): Promise<RepositoryRecord> {
    return strip(await this.#row(id))
  }

  async secrets(id: string): Promise<RepositorySecrets> {
    const row = await this.#row(id)
    return {
      passphrase:
        row.passphrase_sealed === null
          ? undefined
          : this.box.open(row.passphrase_sealed, repositoryField(id, 'passphrase_sealed')),
      s3:
        row.s3_sealed === null
          ? undefined
          : (JSON.parse(this.box.open(row.s3_sealed, repositoryField(id, 's3_sealed'))) as S3Keys),
    }
  }

  async create(input: RepositoryInput, identity?: RepositoryIdentity): Promise<RepositoryRecord> {
    await this.#uniqueName(input.name)
    const id = newId('repo')
    await this.db.run(
      'INSERT INTO repositories (id, name, location, passphrase_sealed, s3_sealed, identity) ' +
        'VALUES (?, ?, ?, ?, ?, ?)',
      [
        id,
        input.name,
        input.location,
        this.box.sealOptional(input.passphrase, repositoryField(id, 'passphrase_sealed')),
        input.s3 === undefined
          ? null
          : this.box.seal(JSON.stringify(input.s3), repositoryField(id, 's3_sealed')),
        identity === undefined ? null : JSON.stringify(identity),
      ],
    )
    return this.get(id)
  }

  /** Records what the repository is now: at its first open, once sealed, or accepted by an admin. */
  async recordIdentity(id: string, identity: RepositoryIdentity): Promise<RepositoryRecord> {
    await this.#row(id)
    await this.db.run('UPDATE repositories SET identity = ? WHERE id = ?', [JSON.stringify(identity), id])
    return this.get(id)
  }

  async update(id: string, change: Partial<RepositoryInput>): Promise<RepositoryRecord> {
    const row = await this.#row(id)
    if (change.name !== undefined && change.name !== row.name) await this.#uniqueName(change.name)
    await this.db.run(
      'UPDATE repositories SET name = ?, location = ?, passphrase_sealed = ?, s3_sealed = ? WHERE id = ?',
      [
        change.name ?? row.name,
        change.location ?? row.location,
        change.passphrase === undefined
          ? row.passphrase_sealed
          : this.box.sealOptional(change.passphrase, repositoryField(id, 'passphrase_sealed')),
        change.s3 === undefined
          ? row.s3_sealed
          : this.box.seal(JSON.stringify(change.s3), repositoryField(id, 's3_sealed')),
        id,
      ],
    )
    return this.get(id)
  }

  async delete(id: string): Promise<void> {
    await this.#row(id)
    await this.db.run('DELETE FROM repositories WHERE id = ?', [id])
  }

  async #row(id: string): Promise<Row> {
    const row = (await this.db.get('SELECT * FROM repositories WHERE id = ?', [id])) as Row | undefined
    if (row === undefined) throw notFound(`repository '${id}'`)
    return row
  }

  async #uniqueName(name: string): Promise<void> {
    if ((await this.db.get('SELECT 1 FROM repositories WHERE name = ?', [name])) !== undefined)
      throw conflict(`a repository named '${name}' exists already`)
  }
}

const strip = (r: Row): RepositoryRecord => {
  const identity = r.identity === null ? undefined : parseIdentity(JSON.parse(r.identity))
  return {
    id: r.id,
    name: r.name,
    location: r.location,
    encrypted: r.passphrase_sealed !== null,
    ...(identity === undefined ? {} : { identity }),
  }
}

/** The environment the engine's openStore and workers read secrets from, for one repository. */
export function secretsEnv(secrets: RepositorySecrets): Record<string, string> {
  const env: Record<string, string> = {}
  if (secrets.passphrase !== undefined) env.STRATA_PASSPHRASE = secrets.passphrase
  if (secrets.s3 !== undefined) {
    env.STRATA_S3_ACCESS_KEY_ID = secrets.s3.accessKeyId
    env.STRATA_S3_SECRET_ACCESS_KEY = secrets.s3.secretAccessKey
  }
  return env
}
