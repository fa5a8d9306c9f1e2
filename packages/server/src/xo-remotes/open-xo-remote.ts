// The server's one place that opens XO remotes (a composition root, as the CLI's xo-common.ts is): a
// local path (or a mount) as it is, S3 through a store whose writes throw (storeFiles) and without the
// create-only probe, which writes. The S3 keys reach the store's client only, the key the reader only.
import { stat } from 'node:fs/promises'
import { StrataError } from '@strata/core'
import { openStore, parseLocation } from '@strata/core/storage'
import { localFiles, storeFiles, XoRemote, type RemoteFiles } from '@strata/core/xo'
import { ApiError } from '../errors.js'
import { secretsEnv } from '../repositories/repository-store.js'
import { xoApiError } from './xo-api-error.js'
import type { XoRemoteSecrets } from './xo-remote-store.js'

export async function openXoRemote(
  location: string,
  secrets: XoRemoteSecrets,
  signal: AbortSignal,
): Promise<XoRemote> {
  const env = secretsEnv({ s3: secrets.s3 })
  const parsed = parseLocation(location, env)
  if (parsed.kind === 'nas')
    throw new ApiError(
      400,
      'INVALID_LOCATION',
      `${location}: mount the XO remote and give its path, or an s3:// URL`,
    )
  if (parsed.kind === 'local' && !(await stat(parsed.path).catch(() => undefined))?.isDirectory()) {
    throw new ApiError(
      400,
      'XO_NOT_FOUND',
      `${parsed.path} is not a directory: give the XO remote's root (its mount point)`,
    )
  }
  let files: RemoteFiles
  try {
    files =
      parsed.kind === 'local'
        ? localFiles(parsed.path)
        : storeFiles(await openStore(location, env, { probe: false, signal }))
  } catch (error) {
    if (error instanceof StrataError && !(error instanceof ApiError) && error.code.startsWith('INVALID'))
      throw error
    throw new ApiError(
      502,
      'XO_REMOTE_UNAVAILABLE',
      `the XO remote ${location} cannot be opened: ${(error as Error).message}`,
    )
  }
  const key = secrets.key === undefined ? undefined : Buffer.from(secrets.key, 'utf8')
  try {
    return await XoRemote.open(files, { key, signal })
  } catch (error) {
    await files.close?.().catch(() => undefined)
    throw xoApiError(error, true)
  }
}
