// The options of Repository.create and Repository.open, and what key slot listings give.
import type { ScryptCost } from './crypto/keys.js'
import type { ImmutablePolicy } from './format/config.js'
import type { RepositoryIdentity } from './identity.js'

export interface KeySlotOptions {
  /** Accept a new passphrase shorter than MIN_PASSPHRASE_LENGTH. */
  readonly force?: boolean
  /**
   * Tests only: a cheaper scrypt for new key slots, so that suites do not spend seconds per slot. Never
   * set it in production code: DEFAULT_SCRYPT is the cost of every real slot.
   */
  readonly weakKdfForTests?: ScryptCost
  readonly signal?: AbortSignal
}

export interface CreateOptions extends KeySlotOptions {
  readonly chunkSize?: number
  readonly compressionLevel?: number
  /** Makes an encrypted repository whose first key slot opens with this secret. */
  readonly passphrase?: Uint8Array
  /** Every chunk, index and manifest retained (S3 Object Lock); the bucket must have it enabled. */
  readonly immutable?: ImmutablePolicy
}

export interface OpenOptions {
  readonly passphrase?: Uint8Array
  /**
   * What the caller recorded of this repository before (a server, a job): a config that no longer
   * matches it, or a seal that went away, is REPOSITORY_CONFIG_CHANGED.
   */
  readonly expected?: RepositoryIdentity
  readonly signal?: AbortSignal
}

export interface KeySlotInfo {
  readonly id: string
  readonly label: string
  readonly created: string
  /** Listed in the config seal: the only slots opening tries. */
  readonly trusted: boolean
}
