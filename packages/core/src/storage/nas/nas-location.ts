// NAS locations: a share Strata mounts itself (as root) before using it as a local directory.
//
//   nfs://HOST[:PORT]/EXPORT/PATH[?vers=4.2]                      mount.nfs HOST:/EXPORT/PATH
//   smb://[USER@]HOST[:PORT]/SHARE[/PATH][?vers=3.1.1&domain=D]   mount.cifs //HOST/SHARE, then PATH in it
//
// The SMB password never goes in the URL (it ends up in logs, job definitions and shell history): it
// comes from the opener (the server's sealed secrets) or STRATA_SMB_PASSWORD, the user from the URL or
// STRATA_SMB_USERNAME. Every part is checked against a strict pattern here, because it ends up in the
// arguments of a mount command run as root.
import { createHash } from 'node:crypto'
import { StorageError } from '../storage-error.js'

export interface NfsLocation {
  readonly protocol: 'nfs'
  readonly host: string
  readonly port?: number
  /** The exported directory and the path below it, mounted as one: '/export/path'. */
  readonly path: string
  readonly version?: string
}

export interface SmbLocation {
  readonly protocol: 'smb'
  readonly host: string
  readonly port?: number
  readonly share: string
  /** The repository's directory inside the share, '' for the share itself ('backups/strata'). */
  readonly path: string
  readonly user?: string
  readonly domain?: string
  readonly version?: string
}

export type NasLocation = NfsLocation | SmbLocation

const HOST = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/
const IPV6 = /^\[[0-9a-f:.]{2,45}\]$/
/** Share names: no separators, wildcards, quotes, controls, and nothing a mount option could split on. */
const SHARE = /^[^\\/:*?"<>|,=\s\p{Cc}][^\\/:*?"<>|,=\p{Cc}]{0,79}$/u
const USER = /^[A-Za-z0-9_.$-][A-Za-z0-9_.$ -]{0,63}$/
const DOMAIN = /^[A-Za-z0-9_.-]{1,64}$/
const VERSIONS = {
  nfs: new Set(['3', '4', '4.0', '4.1', '4.2']),
  smb: new Set(['2.0', '2.1', '3', '3.0', '3.02', '3.1.1']),
}
const OPTIONS = { nfs: new Set(['vers']), smb: new Set(['vers', 'domain']) }

export function isNasScheme(scheme: string): boolean {
  return scheme === 'nfs' || scheme === 'smb'
}

export function parseNasLocation(location: string): NasLocation {
  const protocol = location.slice(0, 3).toLowerCase() as 'nfs' | 'smb'
  let url: URL
  try {
    url = new URL(`http${location.slice(3)}`)
  } catch (error) {
    throw invalid(location, 'not a valid URL', error)
  }
  const shown = `${protocol}://${url.host}${url.pathname}`
  if (url.password !== '') {
    throw invalid(
      `${protocol}://***@${url.host}${url.pathname}`,
      'a password does not belong in the URL; set STRATA_SMB_PASSWORD',
    )
  }
  // The URL parser resolves '..' and '.' (escaped or not) away; a location that holds them is refused,
  // never quietly read as another directory.
  const rawPath = location.replace(/^[a-z]+:\/\/[^/?#]*/i, '').split(/[?#]/)[0] ?? ''
  if (rawPath.split('/').some((p) => /^(\.|%2e){1,2}$/i.test(p)))
    throw invalid(shown, "'.' or '..' in the path")
  const host = url.hostname.toLowerCase()
  if (!(HOST.test(host) || (protocol === 'nfs' && IPV6.test(host)))) {
    const v6 =
      protocol === 'smb' && host.startsWith('[') ? ' (give an SMB server by name or IPv4 address)' : ''
    throw invalid(shown, `invalid host '${host}'${v6}`)
  }
  const port = url.port === '' ? undefined : Number(url.port)
  const segments = url.pathname
    .split('/')
    .filter((p) => p !== '')
    .map((p) => decodeSegment(p, shown))
  const query = url.searchParams
  for (const name of query.keys()) {
    if (!OPTIONS[protocol].has(name)) throw invalid(shown, `unknown option '${name}'`)
  }
  const version = query.get('vers') ?? undefined
  if (version !== undefined && !VERSIONS[protocol].has(version)) {
    throw invalid(shown, `vers must be one of ${[...VERSIONS[protocol]].join(', ')}`)
  }
  const common = {
    host,
    ...(port === undefined ? {} : { port }),
    ...(version === undefined ? {} : { version }),
  }
  if (protocol === 'nfs') {
    if (url.username !== '') throw invalid(shown, 'NFS takes no user name')
    if (segments.length === 0) throw invalid(shown, 'no exported path')
    return { protocol, ...common, path: `/${segments.join('/')}` }
  }
  return smbLocation(shown, url, segments, common)
}

function smbLocation(
  shown: string,
  url: URL,
  segments: string[],
  common: { host: string; port?: number; version?: string },
): SmbLocation {
  const [share = '', ...rest] = segments
  if (!SHARE.test(share)) throw invalid(shown, share === '' ? 'no share' : `invalid share name '${share}'`)
  const user = url.username === '' ? undefined : decode(url.username, shown)
  if (user !== undefined && !USER.test(user)) throw invalid(shown, `invalid user name '${user}'`)
  const domain = url.searchParams.get('domain') ?? undefined
  if (domain !== undefined && !DOMAIN.test(domain)) throw invalid(shown, `invalid domain '${domain}'`)
  return {
    protocol: 'smb',
    ...common,
    share,
    path: rest.join('/'),
    ...(user === undefined ? {} : { user }),
    ...(domain === undefined ? {} : { domain }),
  }
}

/** What mount gets as the source: `HOST:/PATH` for NFS, `//HOST/SHARE` for SMB. */
export function mountSource(location: NasLocation): string {
  return location.protocol === 'nfs'
    ? `${location.host}:${location.path}`
    : `//${location.host}/${location.share}`
}

/** The location for messages and store names: never a secret (there is none in it). */
export function nasName(location: NasLocation): string {
  const port = location.port === undefined ? '' : `:${location.port}`
  if (location.protocol === 'nfs') return `nfs://${location.host}${port}${location.path}`
  const user = location.user === undefined ? '' : `${location.user}@`
  const path = location.path === '' ? '' : `/${location.path}`
  return `smb://${user}${location.host}${port}/${location.share}${path}`
}

/**
 * The mount point's name under Strata's mounts directory: readable, and one per mount (source, port,
 * version, user, domain), so that repositories on one share share its mount.
 */
export function mountName(location: NasLocation, user?: string): string {
  const { protocol, host, port, version } = location
  const identity =
    protocol === 'nfs'
      ? [protocol, host, port, version, location.path]
      : [protocol, host, port, version, location.share, user, location.domain]
  const digest = createHash('sha256').update(JSON.stringify(identity)).digest('hex').slice(0, 12)
  return `${protocol}-${host.replace(/[^a-z0-9.-]/g, '_')}-${digest}`
}

function decodeSegment(part: string, shown: string): string {
  const decoded = decode(part, shown)
  if (decoded === '.' || decoded === '..' || /[\\/,\p{Cc}]/u.test(decoded)) {
    throw invalid(shown, `invalid path segment '${decoded}'`)
  }
  return decoded
}

function decode(part: string, shown: string): string {
  try {
    return decodeURIComponent(part)
  } catch (error) {
    throw invalid(shown, `bad percent-escape in '${part}'`, error)
  }
}

function invalid(location: string, why: string, cause?: unknown): StorageError {
  return new StorageError('INVALID_LOCATION', `invalid store location '${location}': ${why}`, { cause })
}
