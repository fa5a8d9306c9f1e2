// The repository config (object 'config'): plaintext JSON, written once at creation. It says how to read
// everything else: chunk size, whether the repository is encrypted, the default compression level.
import { RepositoryError } from '../errors.js'
import { MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, REPOSITORY_FORMAT, REPOSITORY_VERSION } from './constants.js'
import { JsonReader, encodeJson } from './json.js'

export interface RepositoryConfig {
  readonly id: string
  readonly chunkSize: number
  readonly encryption: 'none' | 'aes-256-gcm'
  /** zstd level for new chunks; 0 stores chunks raw. */
  readonly compressionLevel: number
  readonly created: string
  /** S3 Object Lock: every chunk, index and manifest is written retained this long (docs/immutability.md). */
  readonly immutable?: ImmutablePolicy
}

export interface ImmutablePolicy {
  /** How long each object is retained after it is written (or after a newer point last used it). */
  readonly seconds: number
  readonly mode: 'governance' | 'compliance'
}

/** 100 years: more is surely a typo (and S3 servers refuse dates that far anyway). */
export const MAX_IMMUTABLE_SECONDS = 100 * 365 * 86_400

export function isValidChunkSize(size: number): boolean {
  return (
    Number.isInteger(size) && size >= MIN_CHUNK_SIZE && size <= MAX_CHUNK_SIZE && (size & (size - 1)) === 0
  )
}

export function encodeConfig(config: RepositoryConfig): Uint8Array {
  return encodeJson({ format: REPOSITORY_FORMAT, version: REPOSITORY_VERSION, ...config })
}

export function decodeConfig(bytes: Uint8Array, what: string): RepositoryConfig {
  const r = JsonReader.parse(bytes, what)
  if (r.value.format !== REPOSITORY_FORMAT) {
    throw new RepositoryError('NOT_A_REPOSITORY', `${what} is not a Strata repository config`)
  }
  const version = r.integer('version')
  if (version !== REPOSITORY_VERSION) {
    throw new RepositoryError(
      'UNSUPPORTED_VERSION',
      `${what} has format version ${version}; this Strata reads 1`,
    )
  }
  const chunkSize = r.integer('chunkSize')
  if (!isValidChunkSize(chunkSize))
    throw new RepositoryError('CORRUPT_OBJECT', `${what}: bad chunk size ${chunkSize}`)
  const encryption = r.string('encryption')
  if (encryption !== 'none' && encryption !== 'aes-256-gcm') {
    throw new RepositoryError('UNSUPPORTED_VERSION', `${what}: unknown encryption '${encryption}'`)
  }
  return {
    id: r.string('id'),
    chunkSize,
    encryption,
    compressionLevel: r.integer('compressionLevel', 0, 22),
    created: r.string('created'),
    ...(r.value.immutable === undefined ? {} : { immutable: decodeImmutable(r.object('immutable')) }),
  }
}

function decodeImmutable(r: JsonReader): ImmutablePolicy {
  const mode = r.string('mode')
  if (mode !== 'governance' && mode !== 'compliance')
    throw new RepositoryError('UNSUPPORTED_VERSION', `${r.what}: unknown lock mode '${mode}'`)
  return { seconds: r.integer('seconds', 1, MAX_IMMUTABLE_SECONDS), mode }
}
