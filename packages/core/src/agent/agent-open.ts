// How the agent opens a repository it was asked about: at its own location (a path on its machine, an
// S3 URL, a NAS remote mounted under its data directory), with the secrets the server sealed for it.
import { openRepositoryFromEnv } from '../open/index.js'
import { parseIdentity, type Repository } from '../repository/index.js'
import type { RepositoryTarget } from './protocol-repository.js'

/** Opens (or creates) a repository at the agent's location; NAS remotes mount under its data directory. */
export function openAt(
  dataDir: string,
  target: RepositoryTarget,
  signal: AbortSignal,
  create = false,
  force?: boolean,
): Promise<Repository> {
  const expected = target.expected === undefined ? undefined : parseIdentity(target.expected)
  return openRepositoryFromEnv(target.location, {
    env: { ...target.env, STRATA_HOME: dataDir },
    ...(expected === undefined ? {} : { expected }),
    create,
    ...(force === undefined ? {} : { force }),
    signal,
  })
}
