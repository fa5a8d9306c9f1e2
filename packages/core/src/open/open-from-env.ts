// Opening a repository the way a command or a job's worker does, on top of openRepository(): the secret
// comes from the environment (STRATA_KEY_FILE, else STRATA_PASSPHRASE, else the caller's prompt). A
// secret the environment gives is always handed over as bytes, so that a repository whose config says it
// is plain refuses it (REPOSITORY_NOT_ENCRYPTED) rather than ignoring it; a prompt is asked only once the
// repository turns out to be encrypted. Errors say what to do next: a repository that does not exist
// names the command that creates it, a missing or wrong secret names both variables.
import { readFile } from 'node:fs/promises'
import { RepositoryError, type Repository, type RepositoryIdentity } from '../repository/index.js'
import { StrataError, throwIfAborted } from '../shared/index.js'
import type { Env } from '../storage/index.js'
import { openRepository, type PassphraseSource } from './open-repository.js'

export const SECRET_HINT =
  'set STRATA_PASSPHRASE to its passphrase, or STRATA_KEY_FILE to a file holding its key'

/** A key file must hold at least this many bytes to be worth the name. */
const MIN_KEY_FILE_BYTES = 16

export class RepositoryAccessError extends StrataError {}

export interface OpenFromEnvOptions {
  /** The secret's variables and the store's credentials (STRATA_S3_ACCESS_KEY_ID...). */
  readonly env: Env
  /** Asked for the secret of an encrypted repository the environment gives none for (a terminal prompt). */
  readonly prompt?: (repository: string, signal: AbortSignal) => Promise<Uint8Array>
  /** What the caller recorded of this repository before (a job): see OpenRepositoryOptions. */
  readonly expected?: RepositoryIdentity
  /** The environment's secret serves several repositories (a job's): it goes only to encrypted ones. */
  readonly passphraseShared?: boolean
  /**
   * Creates the repository if the location holds none: encrypted with the environment's secret (or the
   * prompt's), plain when there is neither.
   */
  readonly create?: boolean
  /** With `create`: accept a passphrase shorter than MIN_PASSPHRASE_LENGTH (else WEAK_PASSPHRASE). */
  readonly force?: boolean
  readonly signal: AbortSignal
}

/** Opens the repository at `location` with the secret of the environment (or the prompt's). */
export async function openRepositoryFromEnv(
  location: string,
  options: OpenFromEnvOptions,
): Promise<Repository> {
  const { env, prompt, expected, passphraseShared, create, force, signal } = options
  try {
    const given = await repositorySecret(env, signal)
    const asked = create === true && prompt === undefined ? undefined : askFor(prompt)
    return await openRepository(location, {
      credentials: env,
      passphrase: given ?? asked,
      expected,
      passphraseShared,
      create,
      force,
      signal,
    })
  } catch (error) {
    throw explainOpenError(error, location)
  }
}

/** Asked only once the repository turns out to be encrypted: the prompt, else PASSPHRASE_REQUIRED. */
function askFor(prompt: OpenFromEnvOptions['prompt']): PassphraseSource {
  return async (name, signal) => {
    if (prompt !== undefined) return prompt(name, signal)
    throw new RepositoryError(
      'PASSPHRASE_REQUIRED',
      `repository '${name}' is encrypted: a passphrase is needed`,
    )
  }
}

/** The secret the environment gives: a key file's bytes, else the passphrase; undefined if neither. */
export async function repositorySecret(env: Env, signal?: AbortSignal): Promise<Uint8Array | undefined> {
  const keyFile = env.STRATA_KEY_FILE
  if (keyFile !== undefined && keyFile !== '') return readKeyFile(keyFile, signal)
  const passphrase = env.STRATA_PASSPHRASE
  return passphrase === undefined || passphrase === '' ? undefined : new TextEncoder().encode(passphrase)
}

export async function readKeyFile(path: string, signal?: AbortSignal): Promise<Uint8Array> {
  let bytes: Uint8Array
  try {
    bytes = await readFile(path, { signal })
  } catch (cause) {
    throwIfAborted(signal)
    throw new RepositoryAccessError(
      'KEY_FILE_UNREADABLE',
      `cannot read key file '${path}' (STRATA_KEY_FILE)`,
      {
        cause,
      },
    )
  }
  if (bytes.length < MIN_KEY_FILE_BYTES)
    throw new RepositoryAccessError(
      'KEY_FILE_TOO_SHORT',
      `key file '${path}' holds ${bytes.length} bytes; at least ${MIN_KEY_FILE_BYTES} are needed`,
    )
  return bytes
}

/** The same error, with the next step in its message when there is an obvious one. */
export function explainOpenError(error: unknown, location: string): unknown {
  if (!(error instanceof RepositoryError)) return error
  const next =
    error.code === 'NOT_A_REPOSITORY'
      ? `create it with 'strata repo init --repo ${location}'`
      : error.code === 'PASSPHRASE_REQUIRED' || error.code === 'WRONG_PASSPHRASE'
        ? SECRET_HINT
        : undefined
  if (next === undefined || error.message.includes(next)) return error
  return new RepositoryError(error.code, `${error.message}: ${next}`, { cause: error })
}
