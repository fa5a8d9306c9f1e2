// How a command or a job's worker gets into a repository: the secret from the environment
// (STRATA_KEY_FILE, else STRATA_PASSPHRASE), and errors that say what to do next: a repository that does
// not exist names the command that creates it, a missing or wrong secret names both variables.
import { readFile } from 'node:fs/promises'
import { Repository, RepositoryError } from '../repository/index.js'
import { StrataError } from '../shared/index.js'
import type { ObjectStore } from '../storage/index.js'

type Env = Record<string, string | undefined>

export const SECRET_HINT =
  'set STRATA_PASSPHRASE to its passphrase, or STRATA_KEY_FILE to a file holding its key'

/** A key file must hold at least this many bytes to be worth the name. */
const MIN_KEY_FILE_BYTES = 16

export class RepositoryAccessError extends StrataError {}

/** The secret the environment gives: a key file's bytes, else the passphrase; undefined if neither. */
export async function repositorySecret(env: Env): Promise<Uint8Array | undefined> {
  const keyFile = env.STRATA_KEY_FILE
  if (keyFile !== undefined && keyFile !== '') return readKeyFile(keyFile)
  const passphrase = env.STRATA_PASSPHRASE
  return passphrase === undefined || passphrase === '' ? undefined : new TextEncoder().encode(passphrase)
}

export async function readKeyFile(path: string): Promise<Uint8Array> {
  let bytes: Uint8Array
  try {
    bytes = await readFile(path)
  } catch (cause) {
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

/** Opens the repository at `location` (its store given) with the secret of the environment. */
export async function openRepositoryWithEnv(
  store: ObjectStore,
  location: string,
  env: Env,
  signal?: AbortSignal,
): Promise<Repository> {
  const passphrase = await repositorySecret(env)
  try {
    return await Repository.open(store, { signal, passphrase })
  } catch (error) {
    throw explainOpenError(error, location)
  }
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
