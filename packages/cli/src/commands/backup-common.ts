// Shared plumbing of the commands that talk to a pool (`strata backup`, `restore`, `pool`, `lab
// guest-write`): where runs are recorded, and the one way to reach a pool: its URL and user, the
// password (--password where a command takes it, else STRATA_XAPI_PASSWORD, else a prompt; never
// printed), the certificate pinned with --fingerprint, clear text only with --insecure-http. There is no
// trust on first use: the CLI keeps no state between commands, so it would trust whatever answers each
// time; a first contact is refused with the fingerprint seen, to check on the host and give with
// --fingerprint.
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { XapiClient, parseFingerprint, type PoolTrustOptions } from '@strata/core/xapi'
import { UsageError, type OptionSpec, type ParsedArgs } from '../command.js'
import { promptHidden } from './repo-common.js'

export const dataDirOption: OptionSpec = { 'data-dir': { type: 'string' } }

/** What every pool-connecting command takes (`pool` commands take no password flag: env or prompt). */
export const poolConnectOptions: OptionSpec = {
  pool: { type: 'string' },
  user: { type: 'string' },
  fingerprint: { type: 'string' },
  'insecure-http': { type: 'boolean' },
}

export const poolOptions: OptionSpec = {
  ...poolConnectOptions,
  password: { type: 'string' },
}

/** What --password prints: any user of the machine reads a command line (ps, /proc/PID/cmdline). */
export const PASSWORD_FLAG_WARNING =
  'warning: --password is deprecated: every user of this machine can read a command line (ps); ' +
  'set STRATA_XAPI_PASSWORD or type it at the prompt instead'

export const POOL_CONNECT_USAGE = '--pool URL --fingerprint SHA256 [--insecure-http] [--user U]'
export const POOL_USAGE = `${POOL_CONNECT_USAGE} [--password P]`

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

/**
 * --password (where a command still has it: deprecated, with a warning), else STRATA_XAPI_PASSWORD,
 * else a prompt on a terminal.
 */
export async function poolPassword(
  args: ParsedArgs,
  stderr: NodeJS.WritableStream = process.stderr,
): Promise<string> {
  const inline = str(args.values.password)
  if (inline !== undefined) {
    stderr.write(`${PASSWORD_FLAG_WARNING}\n`)
    return inline
  }
  const given = str(process.env.STRATA_XAPI_PASSWORD)
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
export async function connectXapi(
  args: ParsedArgs,
  signal: AbortSignal,
  stderr: NodeJS.WritableStream = process.stderr,
): Promise<XapiClient> {
  const xapi = new XapiClient({
    url: poolUrl(args),
    user: str(args.values.user) ?? 'root',
    password: await poolPassword(args, stderr),
    originator: 'strata',
    ...poolTrust(args),
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
