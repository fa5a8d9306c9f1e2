// A disk of an XO restore point as a download, raw or VHD, streamed as it is read from the remote
// through its chain (or its XVA, front to back): no temporary file, at most MAX_XO_DOWNLOADS at once
// server-wide, stopped as soon as the client goes away. A raw disk is its blocks with zeros between
// them; a VHD is planned from the disk's present blocks before the first byte, so that its length is
// known (Content-Length) and a cut-short download is seen as incomplete.
import type { FastifyReply } from 'fastify'
import { errorCode, errorMessage } from '@strata/core'
import { planVhd, writeVhd } from '@strata/core/vhd'
import { openPoint, type XoDisk } from '@strata/core/xo'
import { RetryLaterError } from '../errors.js'
import { untilClientGone } from '../http-signal.js'
import { written } from '../routes/disk-download.js'
import type { ServerLog } from '../server-log.js'
import { xoApiError } from './xo-api-error.js'
import type { XoRemoteService } from './xo-remote-service.js'

export const MAX_XO_DOWNLOADS = 3

export interface XoDownloadRequest {
  readonly remoteId: string
  readonly pointId: string
  readonly disk: number
  readonly format: 'raw' | 'vhd'
}

export class XoDownloads {
  #active = 0

  constructor(
    readonly service: XoRemoteService,
    readonly log: ServerLog,
    readonly closing: AbortSignal,
  ) {}

  async send(reply: FastifyReply, r: XoDownloadRequest): Promise<void> {
    const record = await this.service.store.get(r.remoteId)
    if (this.#active >= MAX_XO_DOWNLOADS)
      throw new RetryLaterError(
        503,
        'TOO_MANY_DOWNLOADS',
        `${MAX_XO_DOWNLOADS} XO disk downloads are running; try again when one ends`,
        30,
      )
    this.#active++
    try {
      const signal = AbortSignal.any([untilClientGone(reply), this.closing])
      await this.service.with(record.id, signal, async (remote) => {
        const point = await openPoint(remote, r.pointId, signal)
        const disk = await point.openDisk(r.disk, signal)
        const name = `${r.pointId.replace(/[^A-Za-z0-9._-]/g, '_')}-disk${r.disk}.${r.format}`
        await stream(reply, disk, r.format, name, signal, (e) =>
          this.log.warn(`download of ${name} from XO remote '${record.name}' stopped: ${errorMessage(e)}`),
        )
      })
    } catch (error) {
      throw xoApiError(error)
    } finally {
      this.#active--
    }
  }
}

async function stream(
  reply: FastifyReply,
  disk: XoDisk,
  format: 'raw' | 'vhd',
  name: string,
  signal: AbortSignal,
  onStopped: (error: unknown) => void,
): Promise<void> {
  // Planned before the status is sent: a disk that cannot be read is still an error answer.
  const { length, bytes } =
    format === 'raw' ? { length: disk.size, bytes: rawBytes(disk, signal) } : await vhdBytes(disk, signal)
  reply.hijack()
  const res = reply.raw
  res.writeHead(200, {
    'content-type': 'application/octet-stream',
    'content-length': String(length),
    'content-disposition': `attachment; filename="${name}"`,
  })
  try {
    for await (const piece of bytes) await written(res, piece, signal)
    res.end()
  } catch (error) {
    // The status is sent: cutting the connection short of Content-Length tells the client.
    res.destroy()
    if (!signal.aborted || errorCode(signal.reason) !== 'CLIENT_GONE') onStopped(error)
  }
}

/** The disk's bytes in order: its present blocks, and zeros between them. */
async function* rawBytes(disk: XoDisk, signal: AbortSignal): AsyncGenerator<Uint8Array> {
  const zeros = new Uint8Array(disk.blockSize)
  let position = 0
  const gap = function* (to: number): Generator<Uint8Array> {
    while (position < to) {
      const n = Math.min(zeros.length, to - position)
      yield zeros.subarray(0, n)
      position += n
    }
  }
  for await (const { index, data } of disk.blocks({ signal })) {
    const offset = index * disk.blockSize
    yield* gap(offset)
    const part = data.subarray(0, Math.min(data.length, disk.size - offset))
    yield part
    position = offset + part.length
  }
  yield* gap(disk.size)
}

async function vhdBytes(
  disk: XoDisk,
  signal: AbortSignal,
): Promise<{ length: number; bytes: AsyncIterable<Uint8Array> }> {
  const plan = planVhd({
    size: disk.size,
    blockSize: disk.blockSize,
    blockIndexes: await disk.presentBlocks(signal),
  })
  return { length: plan.length, bytes: writeVhd(plan, disk.blocks({ signal }), signal) }
}
