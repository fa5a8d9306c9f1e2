// VDI calls a backup needs: CBT (enable, changed blocks, data_destroy), NBD discovery, and the HTTP
// transfers of one disk's content.
import type { Readable } from 'node:stream'
import { decodeCbtBitmap, type ChangedBlocks } from './codec/cbt-bitmap.js'
import { download, upload, type UploadBody } from './http-transfer.js'
import { callAsync, type WaitTaskOptions } from './tasks.js'
import type { Ref, XapiClient } from './xapi-client.js'
import { XapiTransferError } from './xapi-error.js'

export interface NbdInfo {
  exportname: string
  address: string
  port: number
  /** PEM of the host certificate: pin it. */
  cert: string
  /** Name to verify the certificate against. */
  subject: string
}

export async function enableCbt(client: XapiClient, vdi: Ref, options: WaitTaskOptions = {}): Promise<void> {
  await callAsync(client, 'VDI.enable_cbt', [vdi], options)
}

/** Blocks changed between two CBT-enabled snapshots (the base may be a cbt_metadata VDI). */
export async function listChangedBlocks(
  client: XapiClient,
  from: Ref,
  to: Ref,
  options: WaitTaskOptions = {},
): Promise<ChangedBlocks> {
  const bitmap = await callAsync(client, 'VDI.list_changed_blocks', [from, to], options)
  if (typeof bitmap !== 'string') {
    throw new XapiTransferError('XAPI_BAD_RESULT', `VDI.list_changed_blocks returned ${typeof bitmap}`)
  }
  return decodeCbtBitmap(bitmap)
}

/** Drops a snapshot's data but keeps its CBT log (type becomes cbt_metadata). */
export async function dataDestroy(
  client: XapiClient,
  vdi: Ref,
  options: WaitTaskOptions = {},
): Promise<void> {
  await callAsync(client, 'VDI.data_destroy', [vdi], options)
}

/** NBD endpoints for a VDI; an empty list means no network has purpose nbd (use HTTP instead). */
export async function getNbdInfo(client: XapiClient, vdi: Ref, signal?: AbortSignal): Promise<NbdInfo[]> {
  const infos = await client.call<NbdInfo[]>('VDI.get_nbd_info', [vdi], signal)
  return infos.map((i) => ({ ...i, port: Number(i.port) }))
}

export interface ExportVdiOptions {
  format: 'raw' | 'vhd'
  /** A previous snapshot: the VHD holds only blocks that differ from it. */
  base?: Ref
  signal?: AbortSignal
  /** Give up when no byte arrives for this long (default 5 minutes). */
  inactivityTimeoutMs?: number
}

/**
 * GET /export_raw_vdi. The stream errors at its end if the task failed or (raw) the length is wrong.
 */
export async function exportVdi(client: XapiClient, vdi: Ref, options: ExportVdiOptions): Promise<Readable> {
  const expected =
    options.format === 'raw'
      ? Number(await client.call('VDI.get_virtual_size', [vdi], options.signal))
      : undefined
  return download(
    client,
    {
      method: 'GET',
      path: '/export_raw_vdi',
      query: { vdi, format: options.format, base: options.base },
      label: `export of VDI ${vdi}`,
      signal: options.signal,
      inactivityTimeoutMs: options.inactivityTimeoutMs,
    },
    expected,
  )
}

/** PUT /import_raw_vdi into an existing VDI; `length` must be exact (XAPI reads the footer there). */
export async function importVdi(
  client: XapiClient,
  vdi: Ref,
  body: UploadBody,
  options: {
    format: 'raw' | 'vhd'
    /** A raw body of frames written in place (xapi.md §4.3; see codec/chunked-frames.ts). */
    chunked?: boolean
    signal?: AbortSignal
    inactivityTimeoutMs?: number
  },
): Promise<void> {
  await upload(client, {
    method: 'PUT',
    path: '/import_raw_vdi',
    query: { vdi, format: options.format, chunked: options.chunked === true ? '' : undefined },
    label: `import into VDI ${vdi}`,
    body,
    signal: options.signal,
    inactivityTimeoutMs: options.inactivityTimeoutMs,
  })
}

/** GET /export of a halted VM or a snapshot as XVA. */
export async function exportXva(
  client: XapiClient,
  vm: Ref,
  options: { compression?: 'zstd' | 'gzip' | 'none'; signal?: AbortSignal } = {},
): Promise<Readable> {
  const compression = options.compression ?? 'none'
  return download(client, {
    method: 'GET',
    path: '/export',
    query: {
      ref: vm,
      use_compression: compression === 'gzip' ? 'true' : compression === 'zstd' ? 'zstd' : 'false',
    },
    label: `export of VM ${vm}`,
    signal: options.signal,
  })
}

/** PUT /import of an XVA into an SR; returns the new VMs. */
export async function importXva(
  client: XapiClient,
  sr: Ref,
  body: UploadBody,
  signal?: AbortSignal,
): Promise<Ref[]> {
  const result = await upload(client, {
    method: 'PUT',
    path: '/import',
    query: { sr_id: sr },
    label: `import of an XVA into SR ${sr}`,
    body,
    signal,
  })
  return Array.isArray(result) ? (result as Ref[]) : [result as Ref]
}
