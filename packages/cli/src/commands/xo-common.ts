// Shared plumbing of the `strata xo` commands: --remote (a path or mount, or s3://… as for repositories),
// the remote's key (STRATA_XO_KEY, or STRATA_XO_KEY_FILE's contents; never a flag: it would show in
// `ps` and shell history), and opening the remote read-only.
import { readFile, stat } from 'node:fs/promises'
import { openStore, parseLocation } from '@strata/core/storage'
import { localFiles, storeFiles, XoError, XoRemote, type RemoteFiles } from '@strata/core/xo'
import type { XapiClient } from '@strata/core/xapi'
import { UsageError, type OptionSpec, type ParsedArgs } from '../command.js'
import { str } from './backup-common.js'

export const remoteOption: OptionSpec = { remote: { type: 'string' } }

export function remoteLocation(args: ParsedArgs): string {
  const remote = str(args.values.remote)
  if (remote === undefined) throw new UsageError('--remote PATH|s3://… (the XO remote) is required')
  return remote
}

/** The admin's key for an encrypted remote, or undefined when none is set. */
export async function remoteKey(env: NodeJS.ProcessEnv = process.env): Promise<Uint8Array | undefined> {
  const file = env.STRATA_XO_KEY_FILE
  if (file !== undefined && file !== '') {
    // A key is 32 bytes: a large file is a mistake, not read whole.
    if ((await stat(file)).size > 1024)
      throw new XoError('XO_KEY_INVALID', `key file '${file}' is not an XO key`)
    // A key file usually ends with a newline that is not part of the key.
    const bytes = await readFile(file)
    const end =
      bytes.at(-1) === 0x0a ? (bytes.at(-2) === 0x0d ? bytes.length - 2 : bytes.length - 1) : bytes.length
    return bytes.subarray(0, end)
  }
  const key = env.STRATA_XO_KEY
  return key === undefined || key === '' ? undefined : Buffer.from(key, 'utf8')
}

/** Opens the remote for reading: a directory as it is, S3 without the create-only probe (it writes). */
export async function openXoRemote(args: ParsedArgs, signal: AbortSignal): Promise<XoRemote> {
  const location = remoteLocation(args)
  const parsed = parseLocation(location, process.env)
  if (parsed.kind === 'local' && !(await stat(parsed.path).catch(() => undefined))?.isDirectory()) {
    throw new XoError(
      'XO_NOT_FOUND',
      `${parsed.path} is not a directory: give the XO remote's root (its mount point)`,
    )
  }
  const files: RemoteFiles =
    parsed.kind === 'local'
      ? localFiles(parsed.path)
      : storeFiles(await openStore(location, process.env, { probe: false, signal }))
  try {
    return await XoRemote.open(files, { key: await remoteKey(), signal })
  } catch (error) {
    await files.close?.()
    throw error
  }
}

export function backupId(args: ParsedArgs): string {
  const id = str(args.values.backup)
  if (id === undefined) throw new UsageError('--backup ID is required (see strata xo list)')
  return id
}

/** The pool's default SR, for a restore that names none. */
export async function defaultSr(xapi: XapiClient, signal: AbortSignal): Promise<string> {
  const [pool] = await xapi.call<string[]>('pool.get_all', [], signal)
  const sr =
    pool === undefined ? 'OpaqueRef:NULL' : await xapi.call<string>('pool.get_default_SR', [pool], signal)
  if (sr === 'OpaqueRef:NULL') throw new UsageError('the pool has no default SR: give --sr UUID')
  return xapi.call<string>('SR.get_uuid', [sr], signal)
}

export function parseNetworkMap(value: unknown): Record<string, string> | undefined {
  if (value === undefined) return undefined
  const map: Record<string, string> = {}
  for (const pair of Array.isArray(value) ? value : [value]) {
    const [from, to] = String(pair).split('=')
    if (!from || !to) throw new UsageError(`--network FROM_UUID=TO_UUID, not '${String(pair)}'`)
    map[from] = to
  }
  return map
}
