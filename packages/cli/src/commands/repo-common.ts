// Shared plumbing of the `strata repo` commands: the --repo option, opening the store and the repository,
// the secret (STRATA_KEY_FILE, STRATA_PASSPHRASE or a prompt without echo), small parsers and formatters.
import { SECRET_HINT, openRepositoryFromEnv, readKeyFile, repositorySecret } from '@strata/core/open'
import { RepositoryError, type Repository } from '@strata/core/repository'
import { openStore, type ObjectStore } from '@strata/core/storage'
import { UsageError, type OptionSpec, type ParsedArgs } from '../command.js'

export const repoOption: OptionSpec = { repo: { type: 'string' } }

export function repoLocation(args: ParsedArgs): string {
  const repo = args.values.repo ?? process.env.STRATA_REPOSITORY
  if (typeof repo !== 'string' || repo === '')
    throw new UsageError('--repo PATH|s3://… is required (or STRATA_REPOSITORY)')
  return repo
}

export function openRepoStore(args: ParsedArgs, signal: AbortSignal): Promise<ObjectStore> {
  return openStore(repoLocation(args), process.env, { signal })
}

/**
 * Opens the repository. A secret the environment gives (STRATA_KEY_FILE, STRATA_PASSPHRASE) is always
 * used, so that a repository claiming to be plain is refused (REPOSITORY_NOT_ENCRYPTED) instead of the
 * secret being ignored; without one, the passphrase is asked for (on a terminal) only if the repository
 * is encrypted. Errors say what to do next (`repo init`, the secret's variables).
 */
export function openRepository(args: ParsedArgs, signal: AbortSignal): Promise<Repository> {
  return openRepositoryFromEnv(repoLocation(args), {
    env: process.env,
    prompt: (name) => readSecret(`passphrase for ${name}: `, undefined),
    signal,
  })
}

/** The secret that opens a repository: STRATA_KEY_FILE's contents, STRATA_PASSPHRASE, or a prompt. */
export async function readPassphrase(prompt: string): Promise<Uint8Array> {
  return (await repositorySecret(process.env)) ?? readSecret(prompt, undefined)
}

export const forceOption: OptionSpec = { force: { type: 'boolean' } }

/** Core's WEAK_PASSPHRASE, saying how the CLI forces it. */
export async function withForceHint<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run()
  } catch (error) {
    if (error instanceof RepositoryError && error.code === 'WEAK_PASSPHRASE')
      throw new RepositoryError('WEAK_PASSPHRASE', `${error.message} (--force)`, { cause: error })
    throw error
  }
}

export { readKeyFile }

/** `env` when set, else a prompt on a terminal; `hint` says how to give it without one. */
export async function readSecret(
  prompt: string,
  env: string | undefined,
  hint = SECRET_HINT,
): Promise<Uint8Array> {
  if (env !== undefined && env !== '') return new TextEncoder().encode(env)
  const stdin = process.stdin
  if (!stdin.isTTY) {
    throw new RepositoryError('PASSPHRASE_REQUIRED', `no passphrase: ${hint} (or run in a terminal)`)
  }
  return promptHidden(prompt, () => new RepositoryError('PASSPHRASE_REQUIRED', 'no passphrase entered'))
}

/** Reads a line from the terminal without echo; `missing` is the error of an interrupted entry. */
export async function promptHidden(prompt: string, missing: () => Error): Promise<Uint8Array> {
  const stdin = process.stdin
  process.stderr.write(prompt)
  stdin.setRawMode(true)
  stdin.resume()
  try {
    const chars: string[] = []
    for await (const data of stdin as AsyncIterable<Buffer>) {
      for (const ch of data.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return new TextEncoder().encode(chars.join(''))
        if (ch === '\u0003') throw missing()
        if (ch === '\u007f') chars.pop()
        else chars.push(ch)
      }
    }
    throw missing()
  } finally {
    stdin.setRawMode(false)
    stdin.pause()
    process.stderr.write('\n')
  }
}

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }

/** '2M', '512k', '4194304' → bytes. */
export function parseSize(text: string, what: string): number {
  const m = /^(\d+)\s*([kmgt]?)i?b?$/i.exec(text.trim())
  if (m === null) throw new UsageError(`${what}: '${text}' is not a size (e.g. 2M)`)
  return Number(m[1]) * UNITS[m[2]!.toLowerCase()]!
}

export function parseCount(value: unknown, what: string): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (typeof value !== 'string' || !Number.isInteger(n) || n < 0)
    throw new UsageError(`${what}: '${String(value)}' is not a count`)
  return n
}

/** '4 MiB'-style rendering for humans. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`
}

export function stringList(value: unknown): string[] {
  if (value === undefined) return []
  return (Array.isArray(value) ? value : [value]).map(String)
}
