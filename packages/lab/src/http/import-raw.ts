// PUT /import_raw_vdi?vdi=&format=raw|vhd[&chunked]: the 200 head is written before the body is read;
// raw bodies are written from offset 0, chunked raw bodies frame by frame at each frame's offset, VHD
// bodies block by block honouring their sector bitmaps (in both of the last two, what the body does not
// name stays as it is: this is how a delta lands on a clone). Any parse error, short body or write past
// the end fails the task with VDI_IO_ERROR, data already written staying written, as on xapi.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { forEachRun, openVhdStream } from '@strata/core/vhd'
import type { LabState } from '../api/lab-state.js'
import { XapiFailure, toFailure } from '../db/failure.js'
import { refreshSrOf } from '../api/sr-space.js'
import { DIRECT_DEPTH } from '../disks/direct-pool.js'
import { BLOCK_SIZE } from '../disks/disk-store.js'
import { ChunkedFrameParser, type FramePiece } from './chunked-frames.js'
import { attachDom0, bind, faultyBody, resolveVdi, writeHead } from './data-common.js'
import { htmlError } from './json-rpc.js'

export async function handleImportRaw(
  lab: LabState,
  host: string,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  const b = bind(lab, req, url, 'Importing raw VDI')
  if (b === undefined)
    return htmlError(res, 401, 'Unauthorised', { 'www-authenticate': 'Basic realm="xapi"' })
  if (/chunked/i.test(req.headers['transfer-encoding'] ?? '')) {
    lab.tasks.fail(b.task, new XapiFailure('INTERNAL_ERROR', ['Cannot handle encoding: chunked']))
    return htmlError(res, 404, 'Cannot handle encoding: chunked')
  }
  const format = url.searchParams.get('format') ?? 'raw'
  const chunked = url.searchParams.has('chunked')
  // xapi answers this before anything else of the request is looked at; a lab pool told to refuse
  // chunked imports (as a pool without the protocol would) answers it for raw too.
  if (chunked && (format !== 'raw' || lab.faults.refuseChunkedImport)) {
    const what = format === 'raw' ? 'raw' : 'VHD'
    lab.tasks.fail(b.task, new XapiFailure('INTERNAL_ERROR', [`Cannot handle chunked ${what}`]))
    return htmlError(res, 404, `Cannot handle chunked ${what}`)
  }
  let vdi: string
  try {
    if (url.searchParams.get('vdi') === null && format !== 'raw') {
      throw new XapiFailure('INTERNAL_ERROR', ['Importing a VHD directly into an SR not yet supported'])
    }
    vdi = resolveVdi(lab, url.searchParams.get('vdi'))
    if (format !== 'raw' && format !== 'vhd')
      throw new XapiFailure('INTERNAL_ERROR', [`Unknown format ${format}`])
  } catch (error) {
    const f = toFailure(error)
    lab.tasks.fail(b.task, f)
    return htmlError(res, 400, `${f.code}: [ ${f.params.join('; ')} ]`)
  }
  // Kept: a request whose body iteration ended early lets go of its socket (req.socket is null then).
  const socket = req.socket
  writeHead(socket, '200 OK', b.task, { 'content-type': 'application/octet-stream' })
  const fault = lab.faults.takeHttp('/import_raw_vdi')
  const body = faultyBody(req, fault, new XapiFailure('VDI_IO_ERROR', ['Device I/O errors']))
  const detach = attachDom0(lab, lab.hostRef(host), vdi, 'RW')
  const length = Number(req.headers['content-length'] ?? -1)
  const task = lab.tasks.control(b.task)
  try {
    const size = Number(lab.db.get('VDI', vdi).virtual_size)
    let reached = 0
    const write: BlockWrite = async (offset, data, changed) => {
      if (offset + data.length > size) throw new XapiFailure('VDI_IO_ERROR', ['Device I/O errors'])
      await lab.disks.write(vdi, offset, data, { direct: true }) // written once, as tapdisk does: around the page cache
      for (const [at, length] of changed ?? [[offset, data.length]]) lab.cbt.mark(vdi, at, length)
      task.checkCancelled()
      // Frames land anywhere: progress is the share of the body received.
      if (chunked) return
      reached = Math.max(reached, offset + data.length) // writes in flight may land out of order
      if (length > 0) task.setProgress(reached / length)
    }
    const current = (offset: number, length: number, into: Buffer) =>
      lab.disks.read(vdi, offset, length, into)
    const progress = (received: number) => length > 0 && task.setProgress(received / length)
    const received = chunked
      ? await importChunked(body, { write, current, size, progress })
      : format === 'raw'
        ? await importRaw(body, write)
        : await importVhd(body, { write, current }, vdi)
    if (length >= 0 && received !== length) throw new XapiFailure('VDI_IO_ERROR', ['Device I/O errors'])
    if (fault?.kind === 'task-failure')
      lab.tasks.fail(b.task, new XapiFailure(fault.code, fault.params ?? []))
    else lab.tasks.succeed(b.task, vdi)
  } catch (error) {
    const f = toFailure(error)
    lab.tasks.fail(
      b.task,
      f.code === 'TASK_CANCELLED' || f.code === 'VDI_IO_ERROR'
        ? f
        : new XapiFailure('VDI_IO_ERROR', ['Device I/O errors']),
    )
  } finally {
    // After a failure the rest of the body is not read: close the connection, as xapi does.
    if (lab.db.has('task', b.task) && lab.db.get('task', b.task).status !== 'success') socket.destroy()
    else socket.end()
    detach()
    refreshSrOf(lab, vdi)
    await lab.disks.idle(vdi).catch(() => undefined) // a handle that fails to close holds nothing of ours
  }
}

/** Writes `data` at `offset`; `changed` (byte ranges) are the sectors the import set, when not all. */
type BlockWrite = (offset: number, data: Uint8Array, changed?: [number, number][]) => Promise<void>

async function importRaw(req: AsyncIterable<Buffer>, write: BlockWrite): Promise<number> {
  let offset = 0
  for await (const chunk of req) {
    await write(offset, chunk)
    offset += chunk.length
  }
  return offset
}

/**
 * A chunked raw body: each frame written at its offset, DIRECT_DEPTH writes in flight at most. The lab
 * keeps whole 2 MiB blocks per node, so the frames that follow one another inside a block are laid over
 * what the VDI holds there and written once, as a partial VHD block is (the device sees the same bytes
 * as from tapdisk's writes of each frame). Frames before a bad one are written, as vhd-tool does.
 */
async function importChunked(
  req: AsyncIterable<Buffer>,
  disk: { write: BlockWrite; current: CurrentRead; size: number; progress: (received: number) => void },
): Promise<number> {
  const parser = new ChunkedFrameParser(disk.size, BLOCK_SIZE)
  const writes = new InFlight(DIRECT_DEPTH)
  const flushed = new Set<number>()
  let group: FramePiece[] = []
  const flush = async (): Promise<void> => {
    const pieces = group
    group = []
    if (pieces.length === 0) return
    const block = Math.floor(pieces[0]!.offset / BLOCK_SIZE)
    // A block met again must be read once its earlier write landed.
    if (flushed.has(block)) await writes.drain()
    flushed.add(block)
    await writes.room()
    writes.add(writeBlock(disk, block, pieces))
  }
  let received = 0
  try {
    try {
      for await (const chunk of req) {
        received += chunk.length
        for (const piece of parser.push(chunk)) {
          if (
            group.length > 0 &&
            Math.floor(piece.offset / BLOCK_SIZE) !== Math.floor(group[0]!.offset / BLOCK_SIZE)
          )
            await flush()
          group.push(piece)
        }
        disk.progress(received)
      }
      parser.end()
    } finally {
      await flush()
    }
    await writes.drain()
  } catch (error) {
    await writes.settle() // the first error is the one reported
    throw error
  }
  return received
}

/** The pieces of one block, written as one: over what the VDI holds there unless they fill it. */
async function writeBlock(
  disk: { write: BlockWrite; current: CurrentRead; size: number },
  block: number,
  pieces: readonly FramePiece[],
): Promise<void> {
  const start = block * BLOCK_SIZE
  const length = Math.min(BLOCK_SIZE, disk.size - start)
  const only = pieces.length === 1 ? pieces[0]! : undefined
  if (only !== undefined && only.offset === start && only.data.length === length)
    return disk.write(start, only.data)
  const data = await disk.current(start, length, Buffer.allocUnsafe(length))
  for (const p of pieces) data.set(p.data, p.offset - start)
  return disk.write(
    start,
    data,
    pieces.map((p) => [p.offset, p.data.length]),
  )
}

type CurrentRead = (offset: number, length: number, into: Buffer) => Promise<Uint8Array>

async function importVhd(
  req: AsyncIterable<Buffer>,
  disk: { write: BlockWrite; current: CurrentRead },
  vdi: string,
): Promise<number> {
  const { write } = disk
  let received = 0
  async function* counted(): AsyncGenerator<Uint8Array> {
    for await (const chunk of req) {
      received += chunk.length
      yield chunk
    }
  }
  const stream = await openVhdStream(counted(), { name: `import into VDI ${vdi}` })
  const sectors = stream.blockSize / 512
  // Full blocks' writes run while the next blocks are received, DIRECT_DEPTH at most (tapdisk, too, keeps
  // a queue of writes on the device): with DIRECT_DEPTH + 2 buffers in rotation, a buffer is never
  // refilled while it is written.
  const writes = new InFlight(DIRECT_DEPTH)
  // What the VDI holds under a partial block, read once per block and copied out at once: one buffer.
  const scratch = Buffer.allocUnsafe(stream.blockSize)
  try {
    // keepPartial: like tapdisk, the import writes only the sectors a block's bitmap sets.
    const blocks = stream.blocks(undefined, { reuse: DIRECT_DEPTH + 1, keepPartial: true })
    for await (const block of blocks) {
      const start = block.index * stream.blockSize
      await writes.room()
      if (block.full) {
        writes.add(write(start, clip(block.data, start, stream.size)))
      } else {
        // Only the set sectors change: the clear ones are filled with what the VDI holds there, and the
        // block is written whole like the others (one write in flight, not one per run). The block's
        // buffer is the import's own (a clear sector reads as zeros in it, never as the sender's bytes).
        const data = clip(block.data, start, stream.size)
        const held = await disk.current(start, data.length, scratch.subarray(0, data.length))
        const changed: [number, number][] = []
        forEachRun(block.bitmap, sectors, true, (first, end) => {
          const at = start + first * 512
          if (at < start + data.length) changed.push([at, Math.min(end * 512, data.length) - first * 512])
        })
        forEachRun(block.bitmap, sectors, false, (first, end) => {
          if (first * 512 < data.length) data.set(held.subarray(first * 512, end * 512), first * 512)
        })
        writes.add(write(start, data, changed))
      }
    }
    await writes.drain()
  } catch (error) {
    await writes.settle() // the first error is the one reported
    throw error
  }
  return received
}

/** Writes in flight, `depth` at most; the first failure is thrown by the next room() or drain(). */
class InFlight {
  readonly #pending = new Set<Promise<void>>()
  #failure: { error: unknown } | undefined

  constructor(readonly depth: number) {}

  add(write: Promise<void>): void {
    const tracked: Promise<void> = write.then(
      () => void this.#pending.delete(tracked),
      (error: unknown) => {
        this.#pending.delete(tracked)
        this.#failure ??= { error }
      },
    )
    this.#pending.add(tracked)
  }

  async room(): Promise<void> {
    while (this.#pending.size >= this.depth && this.#failure === undefined) await Promise.race(this.#pending)
    if (this.#failure !== undefined) throw this.#failure.error
  }

  async drain(): Promise<void> {
    await this.settle()
    if (this.#failure !== undefined) throw this.#failure.error
  }

  async settle(): Promise<void> {
    await Promise.all(this.#pending)
  }
}

/** The last block of a disk whose size is not a block multiple carries padding past the end. */
function clip(data: Uint8Array, offset: number, size: number): Uint8Array {
  return offset + data.length > size ? data.subarray(0, Math.max(0, size - offset)) : data
}
