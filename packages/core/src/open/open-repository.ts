// A location string to an open repository: parse the location and open the store with its wrappers
// (retries, limits: storage/open-store.ts), then open the repository on it, creating it first when asked
// and the location holds none. A store whose repository does not open is closed again.
import { Repository, RepositoryError } from '../repository/index.js'
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
  readonly passphrase?: PassphraseSource
  /** Creates the repository (encrypted when a passphrase is given) if the location holds none. */
  readonly create?: boolean
  /** Logging, retry and limit settings of the store. */
  readonly store?: Omit<OpenStoreOptions, 'signal'>
  readonly signal: AbortSignal
}

export async function openRepository(location: string, options: OpenRepositoryOptions): Promise<Repository> {
  throwIfAborted(options.signal)
  const store = await openStore(location, options.credentials, { ...options.store, signal: options.signal })
  try {
    return await openOn(store, options)
  } catch (error) {
    await store.close?.().catch(() => undefined)
    throw error
  }
}

async function openOn(store: ObjectStore, options: OpenRepositoryOptions): Promise<Repository> {
  const { signal } = options
  const given = options.passphrase instanceof Uint8Array ? options.passphrase : undefined
  try {
    return await Repository.open(store, { passphrase: given, signal })
  } catch (error) {
    if (!(error instanceof RepositoryError)) throw error
    if (error.code === 'NOT_A_REPOSITORY' && options.create === true)
      return Repository.create(store, { passphrase: await secret(store, options), signal })
    if (error.code !== 'PASSPHRASE_REQUIRED' || typeof options.passphrase !== 'function') throw error
    return Repository.open(store, { passphrase: await options.passphrase(store.name, signal), signal })
  }
}

async function secret(store: ObjectStore, options: OpenRepositoryOptions): Promise<Uint8Array | undefined> {
  const source = options.passphrase
  return typeof source === 'function' ? source(store.name, options.signal) : source
}
