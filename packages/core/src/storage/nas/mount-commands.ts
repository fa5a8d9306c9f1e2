// The mount and umount commands for a NAS location, and what their failures mean. Pure: the commands are
// run by a CommandRunner (run-command.ts, or a test's). The SMB password goes to mount.cifs in a
// credentials file (never an argument: any user can read a command line in /proc), and mount.cifs runs
// with a clean environment, since it would take a password from $PASSWD and a user from $USER.
import { errorCode } from '../../shared/index.js'
import { StorageError, type StorageErrorCode } from '../storage-error.js'
import { mountSource, nasName, type NasLocation } from './nas-location.js'

export interface CommandResult {
  /** The exit code; null when a signal ended the command. */
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * Runs a command to its end without a shell and answers its exit code and output; rejects only when it
 * cannot be started (ENOENT: not installed) or on `signal`.
 */
export type CommandRunner = (
  command: string,
  args: readonly string[],
  options: { readonly signal?: AbortSignal; readonly timeoutMs: number },
) => Promise<CommandResult>

export interface Command {
  readonly command: string
  readonly args: readonly string[]
}

/** Why a mount or unmount failed, for callers that act on it (the message says it to people). */
export type MountFailure =
  | 'not-root'
  | 'no-credentials'
  | 'bad-credentials'
  | 'unreachable'
  | 'no-such-share'
  | 'unsupported'
  | 'not-installed'
  | 'mount-point'
  | 'busy'
  | 'failed'

const CODES: Record<MountFailure, StorageErrorCode> = {
  'not-root': 'ACCESS_DENIED',
  'no-credentials': 'INVALID_LOCATION',
  'bad-credentials': 'ACCESS_DENIED',
  unreachable: 'TRANSIENT',
  'no-such-share': 'INVALID_LOCATION',
  unsupported: 'STORE_FAILED',
  'not-installed': 'STORE_FAILED',
  'mount-point': 'STORE_FAILED',
  busy: 'STORE_FAILED',
  failed: 'STORE_FAILED',
}

export class MountError extends StorageError {
  readonly reason: MountFailure

  constructor(reason: MountFailure, message: string, cause?: unknown) {
    super(CODES[reason], message, { cause, details: { reason, permanent: reason !== 'unreachable' } })
    this.reason = reason
  }
}

/** The options every mount gets: no set-uid programs, devices or executables from a backup share. */
const SAFE = ['nosuid', 'nodev', 'noexec']

export function mountCommand(location: NasLocation, mountPoint: string, credentialsFile?: string): Command {
  const options = [...SAFE]
  if (location.port !== undefined) options.push(`port=${location.port}`)
  if (location.version !== undefined) options.push(`vers=${location.version}`)
  if (location.protocol === 'nfs') {
    // hard: a server that goes away stalls writes instead of failing them half-done; nolock: Strata
    // takes no POSIX locks, and NFSv3 would otherwise need rpc.statd.
    options.push('hard', 'nolock')
    return { command: 'mount.nfs', args: [mountSource(location), mountPoint, '-o', options.join(',')] }
  }
  if (credentialsFile === undefined || /[,\n]/.test(credentialsFile)) {
    throw new MountError('failed', `no usable credentials file to mount ${nasName(location)}`)
  }
  // Objects 0600 and directories 0700, as a local store makes them.
  options.push(`credentials=${credentialsFile}`, 'file_mode=0600', 'dir_mode=0700')
  return { command: 'mount.cifs', args: [mountSource(location), mountPoint, '-o', options.join(',')] }
}

export function unmountCommand(mountPoint: string): Command {
  return { command: 'umount', args: [mountPoint] }
}

/** mount.cifs's credentials file (see mount.cifs(8)); a line break in a value would add a line. */
export function credentialsFileText(user: string, password: string, domain?: string): string {
  for (const [what, value] of [
    ['user', user],
    ['password', password],
    ['domain', domain ?? ''],
  ]) {
    if (/[\n\r\0]/.test(value ?? '')) {
      throw new MountError(
        'no-credentials',
        `the SMB ${what} holds a line break or NUL, which mount.cifs cannot take`,
      )
    }
  }
  return `username=${user}\npassword=${password}\n${domain === undefined ? '' : `domain=${domain}\n`}`
}

/** 'mount error(13): Permission denied' → 13 */
const CIFS_ERRNO = /mount error\((\d+)\)/
const UNREACHABLE_ERRNOS = new Set([101, 110, 111, 112, 113, 115])
const UNREACHABLE_NFS =
  /connection refused|no route to host|timed out|network is unreachable|failed to resolve|host is down/i

/** What a failed mount command says, as a MountError naming the location (and never the password). */
export function mountFailure(location: NasLocation, result: CommandResult, password?: string): MountError {
  const name = nasName(location)
  const said = redact(firstLines(result.stderr || result.stdout), password)
  const errno = Number(CIFS_ERRNO.exec(said)?.[1] ?? NaN)
  const fail = (reason: MountFailure, why: string) =>
    new MountError(reason, `cannot mount ${name}: ${why} (${said || `exit code ${result.code}`})`)
  if (/not supported by the system|no such device/i.test(said) || errno === 19) {
    return fail(
      'unsupported',
      `this kernel cannot mount ${location.protocol === 'nfs' ? 'NFS' : 'SMB'} shares`,
    )
  }
  if (errno === 13 || errno === 1 || /access denied|permission denied/i.test(said)) {
    const who = location.protocol === 'smb' ? 'the user name or STRATA_SMB_PASSWORD' : 'the export rules'
    return fail('bad-credentials', `the server refused access: check ${who}`)
  }
  if (UNREACHABLE_ERRNOS.has(errno) || UNREACHABLE_NFS.test(said) || /could not resolve/i.test(said)) {
    return fail('unreachable', `${location.host} cannot be reached`)
  }
  if (errno === 2 || /no such file or directory/i.test(said)) {
    return fail(
      'no-such-share',
      `the server has no ${location.protocol === 'nfs' ? 'such export' : 'such share'}`,
    )
  }
  return fail('failed', 'the mount command failed')
}

/** A mount command that could not be started: not installed, mostly. */
export function spawnFailure(location: NasLocation, command: string, error: unknown): MountError {
  if (errorCode(error) !== 'ENOENT')
    return new MountError('failed', `cannot run ${command}: ${errorCode(error)}`, error)
  const pkg = command === 'mount.cifs' ? 'cifs-utils' : command === 'mount.nfs' ? 'nfs-common' : 'mount'
  return new MountError(
    'not-installed',
    `cannot mount ${nasName(location)}: ${command} is not installed (Debian package ${pkg}; scripts/install-system.sh)`,
    error,
  )
}

function firstLines(text: string): string {
  return text.trim().split('\n').slice(0, 3).join(' / ').slice(0, 500)
}

function redact(text: string, secret: string | undefined): string {
  return secret === undefined || secret === '' ? text : text.split(secret).join('***')
}
