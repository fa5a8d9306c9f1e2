// Shared plumbing of the `strata backup` and `strata restore` commands: where runs are recorded, the
// pool options (the password from --password or STRATA_XAPI_PASSWORD, never printed), and a task tree
// for commands that run in this process.
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { XapiClient } from '@strata/core/xapi'
import { UsageError, type OptionSpec, type ParsedArgs } from '../command.js'

export const dataDirOption: OptionSpec = { 'data-dir': { type: 'string' } }

export const poolOptions: OptionSpec = {
  pool: { type: 'string' },
  user: { type: 'string' },
  password: { type: 'string' },
}

/** Runs, locks and job state: --data-dir, else STRATA_HOME, else ~/.strata. */
export function dataDir(args: ParsedArgs): string {
  const dir = str(args.values['data-dir']) ?? process.env.STRATA_HOME ?? join(homedir(), '.strata')
  return resolve(dir)
}

export function poolPassword(args: ParsedArgs): string {
  const password = str(args.values.password) ?? process.env.STRATA_XAPI_PASSWORD
  if (password === undefined || password === '')
    throw new UsageError('--password or STRATA_XAPI_PASSWORD is needed to log in to the pool')
  return password
}

export function poolUrl(args: ParsedArgs): string {
  const url = str(args.values.pool)
  if (url === undefined) throw new UsageError('--pool URL is required')
  return url
}

/** A logged-in client for the restore commands (closed by the caller). */
export async function connectXapi(args: ParsedArgs, signal: AbortSignal): Promise<XapiClient> {
  const xapi = new XapiClient({
    url: poolUrl(args),
    user: str(args.values.user) ?? 'root',
    password: poolPassword(args),
    originator: 'strata',
  })
  await xapi.connect(signal)
  return xapi
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined
}
