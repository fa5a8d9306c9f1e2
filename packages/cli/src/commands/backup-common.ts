// Shared plumbing of the commands that talk to a pool (`strata backup`, `restore`, `lab guest-write`):
// where runs are recorded, the pool options (the password from --password or STRATA_XAPI_PASSWORD,
// never printed; the certificate pinned with --fingerprint; clear text only with --insecure-http), and a
// task tree for commands that run in this process. There is no trust on first use: the CLI keeps no
// state between commands, so it would trust whatever answers each time; a first contact is refused with
// the fingerprint seen, to check on the host and give with --fingerprint.
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { XapiClient, parseFingerprint, type PoolTrustOptions } from '@strata/core/xapi'
import { UsageError, type OptionSpec, type ParsedArgs } from '../command.js'

export const dataDirOption: OptionSpec = { 'data-dir': { type: 'string' } }

export const poolOptions: OptionSpec = {
  pool: { type: 'string' },
  user: { type: 'string' },
  password: { type: 'string' },
  fingerprint: { type: 'string' },
  'insecure-http': { type: 'boolean' },
}

export const POOL_USAGE = '--pool URL --fingerprint SHA256 [--insecure-http] --user U --password P'

/** --fingerprint (checked here, so that a typo is a usage error) and --insecure-http. */
export function poolTrust(args: ParsedArgs): PoolTrustOptions {
  const given = str(args.values.fingerprint)
  let fingerprint: string | undefined
  try {
    fingerprint = given === undefined ? undefined : parseFingerprint(given)
  } catch (error) {
    throw new UsageError(`--fingerprint: ${(error as Error).message}`)
  }
  return {
    ...(fingerprint === undefined ? {} : { fingerprint }),
    ...(args.values['insecure-http'] === true ? { insecureHttp: true } : {}),
  }
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
    ...poolTrust(args),
  })
  await xapi.connect(signal)
  return xapi
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined
}
