// A location string to an open repository: parse the location and open the store with its wrappers
// (retries, limits: storage/open-store.ts), then open the repository on it, creating it first when asked
// and the location holds none. A store whose repository does not open is closed again.
import { Repository, RepositoryError, attachColdTier, type RepositoryIdentity } from '../repository/index.js'
import { throwIfAborted } from '../shared/index.js'
import { openStore, type Env, type ObjectStore, type OpenStoreOptions } from '../storage/index.js'

/**
 * The secret of an encrypted repository: its bytes, or a function asked for them only once the
 * repository turns out to be encrypted (a prompt must not ask for a secret nobody needs).
 */
export type PassphraseSource = Uint8Array | ((repository: string, signal: AbortSignal) => Promise<Uint8Array>)

export interface OpenRepositoryOptions {
  /** Where S3 credentials come from (STRATA_S3_ACCESS_KEY_ID...: storage/location.ts), never the URL. */
  readonly credentials: Env
  /**
   * Bytes given are always used: a repository whose config says it is plain is then refused
   * (REPOSITORY_NOT_ENCRYPTED), never opened with the secret ignored, since an encrypted repository's
   * config edited to "encryption":"none" must not pass for a plain one. A function is asked only when
   * the repository is encrypted.
   */
  readonly passphrase?: PassphraseSource
  /**
   * The bytes are one secret for several repositories (a job's STRATA_PASSPHRASE): they go only to a
   * repository that is encrypted, as `expected` records or, with no record, as its config says (the
   * record made then guards every later open).
   */
  readonly passphraseShared?: boolean
  /**
   * What the caller recorded of this repository before (a server, a job): a config that no longer
   * matches it, or a seal that went away, is REPOSITORY_CONFIG_CHANGED.
   */
  readonly expected?: RepositoryIdentity
  /** Creates the repository (encrypted when a passphrase is given) if the location holds none. */
  readonly create?: boolean
  /** With `create`: accept a passphrase shorter than MIN_PASSPHRASE_LENGTH (else WEAK_PASSPHRASE). */
  readonly force?: boolean
  /** Logging, retry and limit settings of the store. */
  readonly store?: Omit<OpenStoreOptions, 'signal'>
  readonly signal: AbortSignal
}

export async function openRepository(location: string, options: OpenRepositoryOptions): Promise<Repository> {
  throwIfAborted(options.signal)
  const store = await openStore(location, options.credentials, { ...options.store, signal: options.signal })
  try {
    const repo = await openOn(store, options)
    // A cold tier's store opens with the same credentials as the repository's own (tier.ts).
    const openCold = (cold: string): Promise<ObjectStore> =>
      openStore(cold, options.credentials, { ...options.store, signal: options.signal })
    await attachColdTier(repo, openCold, options.signal)
    return repo
  } catch (error) {
    await store.close?.().catch(() => undefined)
    throw error
  }
}

async function openOn(store: ObjectStore, options: OpenRepositoryOptions): Promise<Repository> {
  const { signal, expected } = options
  try {
    return await Repository.open(store, { passphrase: firstTry(options), expected, signal })
  } catch (error) {
    if (!(error instanceof RepositoryError)) throw error
    if (error.code === 'NOT_A_REPOSITORY' && options.create === true) {
      const passphrase = await secret(store, options)
      return Repository.create(store, { passphrase, force: options.force, signal })
    }
    // Only a secret held back by the first try (asked for, or shared) is worth a second one.
    if (error.code !== 'PASSPHRASE_REQUIRED' || options.passphrase === undefined) throw error
    if (firstTry(options) !== undefined) throw error
    return Repository.open(store, { passphrase: await secret(store, options), expected, signal })
  }
}

/** The bytes the first open gets: those given, unless shared and the repository is not known encrypted. */
function firstTry(options: OpenRepositoryOptions): Uint8Array | undefined {
  const source = options.passphrase
  if (!(source instanceof Uint8Array)) return undefined
  if (options.passphraseShared === true && options.expected?.encryption !== 'aes-256-gcm') return undefined
  return source
}

async function secret(store: ObjectStore, options: OpenRepositoryOptions): Promise<Uint8Array | undefined> {
  const source = options.passphrase
  return typeof source === 'function' ? source(store.name, options.signal) : source
}
