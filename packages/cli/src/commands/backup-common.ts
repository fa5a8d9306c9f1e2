// Shared plumbing of the `strata backup`, `restore` and `pool` commands: where runs are recorded, and
// the one way to reach a pool (URL, user, the password from STRATA_XAPI_PASSWORD or a prompt, never
// printed; --password where a command still takes it).
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { XapiClient } from '@strata/core/xapi'
import { UsageError, type OptionSpec, type ParsedArgs } from '../command.js'
import { promptHidden } from './repo-common.js'

export const dataDirOption: OptionSpec = { 'data-dir': { type: 'string' } }

/** What every pool-connecting command takes (`pool` commands take no password flag: env or prompt). */
export const poolConnectOptions: OptionSpec = {
  pool: { type: 'string' },
  user: { type: 'string' },
}

export const poolOptions: OptionSpec = {
  ...poolConnectOptions,
  password: { type: 'string' },
}

/** Runs, locks and job state: --data-dir, else STRATA_HOME, else ~/.strata. */
export function dataDir(args: ParsedArgs): string {
  const dir = str(args.values['data-dir']) ?? process.env.STRATA_HOME ?? join(homedir(), '.strata')
  return resolve(dir)
}

/** --password (where a command has it), else STRATA_XAPI_PASSWORD, else a prompt on a terminal. */
export async function poolPassword(args: ParsedArgs): Promise<string> {
  const given = str(args.values.password) ?? str(process.env.STRATA_XAPI_PASSWORD)
  if (given !== undefined) return given
  if (process.stdin.isTTY !== true)
    throw new UsageError('set STRATA_XAPI_PASSWORD (or run in a terminal) to log in to the pool')
  const who = `${str(args.values.user) ?? 'root'}@${str(args.values.pool) ?? 'the pool'}`
  const bytes = await promptHidden(
    `password for ${who}: `,
    () => new UsageError('no password entered for the pool'),
  )
  return new TextDecoder().decode(bytes)
}

export function poolUrl(args: ParsedArgs): string {
  const url = str(args.values.pool)
  if (url === undefined) throw new UsageError('--pool URL is required')
  return url
}

/** A logged-in client for the commands that talk to a pool (closed by the caller). */
export async function connectXapi(args: ParsedArgs, signal: AbortSignal): Promise<XapiClient> {
  const xapi = new XapiClient({
    url: poolUrl(args),
    user: str(args.values.user) ?? 'root',
    password: await poolPassword(args),
    originator: 'strata',
  })
  try {
    await xapi.connect(signal)
  } catch (error) {
    await xapi.close().catch(() => undefined)
    throw error
  }
  return xapi
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined
}
