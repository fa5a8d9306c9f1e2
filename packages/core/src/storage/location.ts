// Parses a store location: a local path, a file:// URL, an S3 URL, or a NAS share Strata mounts.
//
//   /srv/backups  ./repo  file:///srv/backups           a local directory (or a share the admin mounted)
//   s3://HOST[:PORT]/BUCKET[/PREFIX][?OPTIONS]          S3 over HTTPS
//   s3+http://HOST[:PORT]/BUCKET[/PREFIX][?OPTIONS]     S3 over plain HTTP (a lab, a trusted LAN)
//   nfs://HOST/EXPORT/PATH  smb://[USER@]HOST/SHARE/PATH  mounted by Strata (nas/nas-location.ts)
//
// OPTIONS: region=NAME (default $STRATA_S3_REGION, $AWS_REGION or us-east-1), style=path|virtual
// (default virtual on *.amazonaws.com, path elsewhere), conditional=auto|yes|no (does the server
// enforce If-None-Match: *; auto probes it), partSize=BYTES (multipart part size).
// Credentials never go in the URL (it ends up in logs and shell history): they come from
// STRATA_S3_ACCESS_KEY_ID/STRATA_S3_SECRET_ACCESS_KEY[/STRATA_S3_SESSION_TOKEN], else from
// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY[/AWS_SESSION_TOKEN].
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isNasScheme, parseNasLocation, type NasLocation } from './nas/nas-location.js'
import type { S3Credentials, S3StoreOptions } from './s3-store.js'
import { StorageError } from './storage-error.js'

export type Env = Readonly<Record<string, string | undefined>>

export type ConditionalMode = 'auto' | 'yes' | 'no'

export type StoreLocation =
  | { readonly kind: 'local'; readonly path: string }
  | { readonly kind: 's3'; readonly s3: S3StoreOptions; readonly conditional: ConditionalMode }
  | { readonly kind: 'nas'; readonly nas: NasLocation }

const OPTIONS = new Set(['region', 'style', 'conditional', 'partSize'])

export function parseLocation(location: string, env: Env): StoreLocation {
  if (location.trim() === '') throw invalid(location, 'empty location')
  if (location.startsWith('file://')) return { kind: 'local', path: fileURLToPath(location) }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(location)?.[1]?.toLowerCase()
  if (scheme === undefined) return { kind: 'local', path: resolve(location) }
  if (isNasScheme(scheme)) return { kind: 'nas', nas: parseNasLocation(location) }
  if (scheme !== 's3' && scheme !== 's3+http') throw invalid(location, `unknown scheme '${scheme}://'`)
  return parseS3(location, scheme === 's3' ? 'https' : 'http', env)
}

function parseS3(location: string, protocol: 'http' | 'https', env: Env): StoreLocation {
  let url: URL
  try {
    url = new URL(location.replace(/^s3(\+http)?:/i, 'http:'))
  } catch (error) {
    throw invalid(location, 'not a valid URL', error)
  }
  if (url.username !== '' || url.password !== '') {
    throw invalid(
      redact(url),
      'credentials do not belong in the URL; set STRATA_S3_ACCESS_KEY_ID/_SECRET_ACCESS_KEY',
    )
  }
  const [bucket = '', ...rest] = url.pathname
    .split('/')
    .filter((p) => p !== '')
    .map((p) => decode(p, location))
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket))
    throw invalid(location, `invalid bucket name '${bucket}'`)
  if (url.hostname === '') throw invalid(location, 'no host')
  for (const name of url.searchParams.keys()) {
    if (!OPTIONS.has(name)) throw invalid(location, `unknown option '${name}'`)
  }
  const q = url.searchParams
  const style = q.get('style') ?? (url.hostname.endsWith('.amazonaws.com') ? 'virtual' : 'path')
  if (style !== 'path' && style !== 'virtual') throw invalid(location, `style must be path or virtual`)
  const conditional = q.get('conditional') ?? 'auto'
  if (conditional !== 'auto' && conditional !== 'yes' && conditional !== 'no') {
    throw invalid(location, 'conditional must be auto, yes or no')
  }
  const partSize = q.get('partSize') === null ? undefined : Number(q.get('partSize'))
  if (partSize !== undefined && !(Number.isSafeInteger(partSize) && partSize >= 5 * 1024 * 1024)) {
    throw invalid(location, 'partSize must be an integer of at least 5 MiB (5242880)')
  }
  const s3: S3StoreOptions = {
    endpoint: `${protocol}://${url.host}`,
    bucket,
    prefix: rest.join('/'),
    region: q.get('region') ?? env.STRATA_S3_REGION ?? env.AWS_REGION ?? 'us-east-1',
    forcePathStyle: style === 'path',
    credentials: credentialsFrom(env, location),
    conditionalCreate: conditional === 'yes',
    partSize,
  }
  return { kind: 's3', s3, conditional }
}

function credentialsFrom(env: Env, location: string): S3Credentials {
  const strata = env.STRATA_S3_ACCESS_KEY_ID !== undefined || env.STRATA_S3_SECRET_ACCESS_KEY !== undefined
  const p = strata ? 'STRATA_S3_' : 'AWS_'
  const accessKeyId = env[`${p}ACCESS_KEY_ID`]
  const secretAccessKey = env[`${p}SECRET_ACCESS_KEY`]
  if (!accessKeyId || !secretAccessKey) {
    throw invalid(location, `S3 credentials missing: set ${p}ACCESS_KEY_ID and ${p}SECRET_ACCESS_KEY`)
  }
  const sessionToken = env[`${p}SESSION_TOKEN`] || undefined
  return sessionToken === undefined
    ? { accessKeyId, secretAccessKey }
    : { accessKeyId, secretAccessKey, sessionToken }
}

function decode(part: string, location: string): string {
  try {
    return decodeURIComponent(part)
  } catch (error) {
    throw invalid(location, `bad percent-escape in '${part}'`, error)
  }
}

function redact(url: URL): string {
  return `${url.protocol}//***@${url.host}${url.pathname}`
}

function invalid(location: string, why: string, cause?: unknown): StorageError {
  return new StorageError('INVALID_LOCATION', `invalid store location '${location}': ${why}`, { cause })
}
