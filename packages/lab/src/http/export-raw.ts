// GET /export_raw_vdi?vdi=&format=raw|vhd[&base=]: the 200 head first, then the body until the
// connection closes; the task completes only after the last byte. VHD streams follow vhd-tool's layout
// (dynamic without base, differencing with base: the blocks held by nodes in exactly one of the two
// chains), written by Strata's VHD writer with xapi's field values (creator "caml", 2 MiB blocks).
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { planVhd, writeVhd, vhdTimestamp } from '@strata/core/vhd'
import type { LabState } from '../api/lab-state.js'
import type { TaskControl } from '../api/tasks.js'
import type { HttpFault } from '../faults.js'
import { XapiFailure, toFailure } from '../db/failure.js'
import { BLOCK_SIZE } from '../disks/disk-store.js'
import { attachDom0, bind, resolveVdi, throttle, write, writeHead } from './data-common.js'
import { htmlError } from './json-rpc.js'

const MAX_VHD_SIZE = 2040 * 1024 ** 3

export async function handleExportRaw(
  lab: LabState,
  host: string,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  const b = bind(lab, req, url, 'Exporting raw VDI')
  if (b === undefined)
    return htmlError(res, 401, 'Unauthorised', { 'www-authenticate': 'Basic realm="xapi"' })
  const format = url.searchParams.get('format') ?? 'raw'
  let vdi: string
  let base: string | undefined
  try {
    vdi = resolveVdi(lab, url.searchParams.get('vdi'))
    const baseId = url.searchParams.get('base')
    base = baseId === null ? undefined : resolveVdi(lab, baseId)
    if (format !== 'raw' && format !== 'vhd') {
      lab.tasks.fail(b.task, new XapiFailure('INTERNAL_ERROR', [`Unknown format ${format}`]))
      return htmlError(res, 404, `Unknown format ${format}`)
    }
    if (lab.db.get('VDI', vdi).type === 'cbt_metadata')
      throw new XapiFailure('VDI_INCOMPATIBLE_TYPE', [vdi, 'cbt_metadata'])
  } catch (error) {
    const f = toFailure(error)
    lab.tasks.fail(b.task, f)
    return htmlError(res, 500, `${f.code}: [ ${f.params.join('; ')} ]`)
  }
  const fault = lab.faults.takeHttp('/export_raw_vdi')
  const socket = req.socket
  writeHead(socket, '200 OK', b.task, {
    'content-type': format === 'vhd' ? 'application/vhd' : 'application/octet-stream',
    'content-disposition': ` attachment; filename="${String(lab.db.get('VDI', vdi).uuid)}.${format}"`,
  })
  const detach = attachDom0(lab, lab.hostRef(host), vdi, 'RO')
  try {
    if (fault?.kind === 'garbage') await sendGarbage(lab, socket, vdi)
    const size = Number(lab.db.get('VDI', vdi).virtual_size)
    const chunks = format === 'raw' ? rawChunks(lab, vdi, size) : vhdChunks(lab, vdi, base, size)
    await streamBody(lab, socket, chunks, lab.tasks.control(b.task), size, fault)
    await new Promise<void>((resolve) => socket.end(resolve))
    if (fault?.kind === 'task-failure') throw new XapiFailure(fault.code, fault.params ?? [])
    lab.tasks.succeed(b.task, '')
  } catch (error) {
    socket.destroySoon()
    lab.tasks.fail(b.task, error)
  } finally {
    detach()
  }
}

/** xen-api #4603: an HTTP error page written into the body of a 200, and the task failed. */
async function sendGarbage(lab: LabState, socket: Socket, vdi: string): Promise<never> {
  await write(socket, Buffer.from('HTTP/1.1 500 Internal Error\r\ncontent-length: 0\r\n\r\n'))
  const uuid = String(lab.db.get('VDI', vdi).uuid)
  throw new XapiFailure('SR_BACKEND_FAILURE_46', [
    '',
    `The VDI is not available [opterr=VDI ${uuid} not detached cleanly]`,
    '',
  ])
}

/** Writes the body with progress and cancellation, cutting or stalling it when a fault says so. */
async function streamBody(
  lab: LabState,
  socket: Socket,
  chunks: AsyncIterable<Uint8Array>,
  task: TaskControl,
  size: number,
  fault: HttpFault | undefined,
): Promise<void> {
  const limit = fault?.kind === 'cut' || fault?.kind === 'stall' ? fault.afterBytes : Infinity
  let sent = 0
  for await (const chunk of chunks) {
    task.checkCancelled()
    const piece = sent + chunk.length > limit ? chunk.subarray(0, limit - sent) : chunk
    await throttle(lab, piece.length)
    if (!(await write(socket, piece))) throw new XapiFailure('VDI_IO_ERROR', ['Device I/O errors'])
    sent += piece.length
    task.setProgress(sent / Math.max(1, size))
    if (sent >= limit) {
      // A stall keeps the connection open and silent until the client gives up.
      if (fault?.kind === 'stall') await new Promise((resolve) => socket.once('close', resolve))
      throw new XapiFailure('VDI_IO_ERROR', ['Device I/O errors'])
    }
  }
}

async function* rawChunks(lab: LabState, vdi: string, size: number): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < size; offset += BLOCK_SIZE) {
    yield await lab.disks.read(vdi, offset, Math.min(BLOCK_SIZE, size - offset))
  }
}

function uuidBytes(uuid: string): Uint8Array {
  return new Uint8Array(Buffer.from(uuid.replace(/-/g, ''), 'hex'))
}

async function* vhdChunks(
  lab: LabState,
  vdi: string,
  base: string | undefined,
  size: number,
): AsyncGenerator<Uint8Array> {
  if (size > MAX_VHD_SIZE) throw new XapiFailure('VDI_TOO_LARGE', [vdi, String(MAX_VHD_SIZE)])
  if (base !== undefined && (!lab.disks.has(base) || !lab.disks.related(vdi, base))) {
    throw new XapiFailure('VDI_IO_ERROR', ['Device I/O errors'])
  }
  const blocks = base === undefined ? lab.disks.allocated(vdi) : lab.disks.difference(vdi, base)
  const sr = String(lab.db.get('SR', String(lab.db.get('VDI', vdi).SR)).uuid)
  const basePath =
    base === undefined ? '' : `/var/run/sr-mount/${sr}/${String(lab.db.get('VDI', base).uuid)}.vhd`
  const plan = planVhd({
    size,
    blockIndexes: blocks,
    blockSize: BLOCK_SIZE,
    creatorApplication: 'caml',
    timestamp: 0,
    parent:
      base === undefined
        ? undefined
        : {
            uuid: uuidBytes(lab.disks.leafUid(base)),
            timestamp: vhdTimestamp(new Date()),
            unicodeName: basePath,
            locators: [{ platform: 'MacX', data: Buffer.from(`file://${basePath}`) }],
          },
  })
  async function* data() {
    for (const index of blocks) {
      const start = index * BLOCK_SIZE
      yield { index, data: await lab.disks.read(vdi, start, Math.min(BLOCK_SIZE, size - start)) }
    }
  }
  yield* writeVhd(plan, data())
}
