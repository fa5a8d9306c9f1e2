// An incremental decoder of the server's replies (simple and structured), fed with whatever the socket
// delivers. Pure: bytes in, completed requests out through a sink. READ payloads land directly in each
// request's destination buffer; `receiveBuffer()` exposes that destination so that a socket can read
// straight into it (no intermediate copy). A reply the protocol does not allow throws an NbdError: the
// connection must then be dropped, since the stream can no longer be trusted.
import { NbdError, protocolError } from '../errors.js'
import type { Extent } from './extent.js'
import {
  Cmd,
  isReplyError,
  ReplyFlag,
  ReplyType,
  SIMPLE_REPLY_MAGIC,
  SIMPLE_REPLY_SIZE,
  STRUCTURED_REPLY_HEADER_SIZE,
  STRUCTURED_REPLY_MAGIC,
} from './constants.js'
import { incompleteRead, ReadCoverage } from './read-coverage.js'
import { decodeBlockStatusPayload, decodeErrorPayload, readHandle } from './transmission.js'

/** A request waiting for its reply, as the decoder sees it. */
export interface InFlight {
  readonly handle: number
  readonly command: number
  readonly offset: number
  readonly length: number
  /** READ destination, `length` bytes. */
  readonly data?: Buffer
  /** Bytes of a READ the reply has covered so far (data and holes), each exactly once. */
  coverage?: ReadCoverage
  /** Block status chunks by metadata context id. */
  readonly extents: Map<number, Extent[]>
  /** The first error the server reported for this request. */
  error?: { errno: number; message: string }
}

export interface ReplySink {
  lookup(handle: number): InFlight | undefined
  complete(request: InFlight): void
}

export interface ReplyDecoderOptions {
  structured: boolean
  /** Largest non-data chunk accepted (block status, error messages). */
  maxMetadataChunk?: number
  /** Size of the staging buffer that headers and small payloads are read into. */
  stagingSize?: number
}

type Mode = 'header' | 'data' | 'buffer'
/** Payloads at least this large are read straight into the request's buffer. */
const DIRECT_THRESHOLD = 16 * 1024

export class ReplyDecoder {
  readonly #sink: ReplySink
  readonly #structured: boolean
  readonly #maxMetadataChunk: number
  readonly #staging: Buffer
  readonly #header = Buffer.alloc(STRUCTURED_REPLY_HEADER_SIZE)
  #headerFill = 0
  #headerNeed = 4
  #mode: Mode = 'header'
  #current: InFlight | undefined
  #dataAt = 0
  #dataEnd = 0
  #buffer = Buffer.alloc(0)
  #bufferFill = 0
  #onBuffered: (b: Buffer) => void = () => {}
  #chunkFlags = 0
  #lastGiven: Buffer | undefined
  #largeReads = false

  constructor(sink: ReplySink, options: ReplyDecoderOptions) {
    this.#sink = sink
    this.#structured = options.structured
    this.#maxMetadataChunk = options.maxMetadataChunk ?? 16 * 1024 * 1024
    this.#staging = Buffer.allocUnsafe(options.stagingSize ?? 256 * 1024)
  }

  /** True between messages: a clean place for the stream to end. */
  get idle(): boolean {
    return this.#mode === 'header' && this.#headerFill === 0
  }

  /** Where the next socket read should go: the current READ destination, or the staging buffer. */
  receiveBuffer(): Buffer {
    const data = this.#current?.data
    if (this.#mode === 'data' && data !== undefined && this.#dataEnd - this.#dataAt >= DIRECT_THRESHOLD) {
      this.#lastGiven = data.subarray(this.#dataAt, this.#dataEnd)
      return this.#lastGiven
    }
    this.#lastGiven = undefined
    // After large reads, fetch just the next header (and a data chunk's offset): the payload that
    // follows then lands directly in its buffer instead of being copied out of the staging buffer.
    if (this.#mode === 'header' && this.#headerFill === 0 && this.#largeReads)
      return this.#staging.subarray(0, 28)
    return this.#staging
  }

  /**
   * `n` bytes were placed at the start of `buffer`. When it is the destination that `receiveBuffer()`
   * handed out, they are already where they belong; otherwise (staging, or a buffer handed out before
   * this decoder took over the socket) they are decoded like any chunk.
   */
  received(n: number, buffer: Buffer): void {
    if (buffer === this.#lastGiven) {
      this.#lastGiven = undefined
      this.#dataAt += n
      if (this.#dataAt === this.#dataEnd) this.#endChunk()
      return
    }
    this.consume(buffer.subarray(0, n))
  }

  /** Decodes bytes that arrived in a buffer of their own (copied where they belong). */
  consume(chunk: Buffer): void {
    let pos = 0
    while (pos < chunk.length) {
      if (this.#mode === 'header') pos = this.#takeHeader(chunk, pos)
      else if (this.#mode === 'data') pos = this.#takeData(chunk, pos)
      else pos = this.#takeBuffer(chunk, pos)
    }
  }

  #takeHeader(chunk: Buffer, pos: number): number {
    const n = Math.min(this.#headerNeed - this.#headerFill, chunk.length - pos)
    chunk.copy(this.#header, this.#headerFill, pos, pos + n)
    this.#headerFill += n
    if (this.#headerFill === this.#headerNeed) this.#headerProgress()
    return pos + n
  }

  #headerProgress(): void {
    if (this.#headerNeed === 4) {
      const magic = this.#header.readUInt32BE(0)
      if (magic === SIMPLE_REPLY_MAGIC) this.#headerNeed = SIMPLE_REPLY_SIZE
      else if (magic === STRUCTURED_REPLY_MAGIC && this.#structured)
        this.#headerNeed = STRUCTURED_REPLY_HEADER_SIZE
      else {
        throw new NbdError('NBD_BAD_MAGIC', `bad reply magic 0x${magic.toString(16).padStart(8, '0')}`, {
          details: { magic },
        })
      }
      return
    }
    this.#headerFill = 0
    const simple = this.#headerNeed === SIMPLE_REPLY_SIZE
    this.#headerNeed = 4
    if (simple) this.#simpleReply()
    else this.#structuredChunk()
  }

  #lookup(handle: number): InFlight {
    const request = this.#sink.lookup(handle)
    if (request === undefined) {
      throw new NbdError('NBD_UNKNOWN_HANDLE', `reply for unknown handle ${handle}`, { details: { handle } })
    }
    return request
  }

  #simpleReply(): void {
    const request = this.#lookup(readHandle(this.#header, 8))
    const errno = this.#header.readUInt32BE(4)
    this.#current = request
    this.#chunkFlags = ReplyFlag.DONE
    if (errno !== 0) {
      request.error ??= { errno, message: '' }
      return this.#endChunk()
    }
    if (request.command === Cmd.READ && request.data !== undefined && request.length > 0) {
      // After structured chunks for this read, a simple reply would send some bytes a second time.
      cover(request, 0, request.length)
      return this.#startData(0, request.length)
    }
    this.#endChunk()
  }

  #structuredChunk(): void {
    const h = this.#header
    const flags = h.readUInt16BE(4)
    const type = h.readUInt16BE(6)
    const request = this.#lookup(readHandle(h, 8))
    const length = h.readUInt32BE(16)
    this.#current = request
    this.#chunkFlags = flags
    if (type === ReplyType.NONE) {
      if (length !== 0 || (flags & ReplyFlag.DONE) === 0) throw protocolError('malformed NBD_REPLY_TYPE_NONE')
      return this.#endChunk()
    }
    if (type === ReplyType.OFFSET_DATA) return this.#offsetData(request, length)
    const limit = type === ReplyType.OFFSET_HOLE ? 12 : this.#maxMetadataChunk
    if (length > limit) {
      throw new NbdError(
        'NBD_OVERSIZED_REPLY',
        `reply chunk of ${length} bytes (type ${type}) for handle ${request.handle}`,
      )
    }
    if (type === ReplyType.OFFSET_HOLE) return this.#collect(length, (b) => this.#hole(request, b))
    if (type === ReplyType.BLOCK_STATUS) return this.#collect(length, (b) => this.#blockStatus(request, b))
    if (isReplyError(type)) return this.#collect(length, (b) => this.#errorChunk(request, b))
    throw protocolError(`unknown structured reply type ${type}`)
  }

  #offsetData(request: InFlight, length: number): void {
    if (request.command !== Cmd.READ || request.data === undefined)
      throw protocolError('data chunk for a non-read')
    if (length < 8 || length - 8 > request.length) {
      throw new NbdError(
        'NBD_OVERSIZED_REPLY',
        `data chunk of ${length} bytes for a ${request.length}-byte read`,
      )
    }
    this.#collect(8, (b) => {
      const at = this.#placeInRead(request, Number(b.readBigUInt64BE(0)), length - 8)
      cover(request, at, length - 8)
      if (length > 8) this.#startData(at, at + length - 8)
    })
  }

  /** The position in the request's buffer of a chunk at `offset`; outside the request is an error. */
  #placeInRead(request: InFlight, offset: number, length: number): number {
    const at = offset - request.offset
    if (at < 0 || at + length > request.length) {
      throw new NbdError(
        'NBD_OVERSIZED_REPLY',
        `chunk at ${offset}+${length} outside read ${request.offset}+${request.length}`,
      )
    }
    return at
  }

  #hole(request: InFlight, b: Buffer): void {
    if (b.length !== 12 || request.data === undefined) throw protocolError('malformed hole chunk')
    const length = b.readUInt32BE(8)
    const at = this.#placeInRead(request, Number(b.readBigUInt64BE(0)), length)
    cover(request, at, length)
    request.data.fill(0, at, at + length)
  }

  #blockStatus(request: InFlight, b: Buffer): void {
    if (request.command !== Cmd.BLOCK_STATUS) throw protocolError('block status chunk for another command')
    const { contextId, extents } = decodeBlockStatusPayload(b, request.offset)
    request.extents.set(contextId, [...(request.extents.get(contextId) ?? []), ...extents])
  }

  #errorChunk(request: InFlight, b: Buffer): void {
    const { error, message } = decodeErrorPayload(b)
    request.error ??= { errno: error, message }
  }

  #collect(length: number, then: (b: Buffer) => void): void {
    this.#buffer = Buffer.allocUnsafe(length)
    this.#bufferFill = 0
    this.#onBuffered = (b) => {
      this.#mode = 'header'
      then(b)
      if (this.#mode === 'header') this.#endChunk()
    }
    this.#mode = 'buffer'
    if (length === 0) this.#onBuffered(this.#buffer)
  }

  #takeBuffer(chunk: Buffer, pos: number): number {
    const n = Math.min(this.#buffer.length - this.#bufferFill, chunk.length - pos)
    chunk.copy(this.#buffer, this.#bufferFill, pos, pos + n)
    this.#bufferFill += n
    if (this.#bufferFill === this.#buffer.length) this.#onBuffered(this.#buffer)
    return pos + n
  }

  #startData(at: number, end: number): void {
    this.#mode = 'data'
    this.#dataAt = at
    this.#dataEnd = end
  }

  #takeData(chunk: Buffer, pos: number): number {
    const n = Math.min(this.#dataEnd - this.#dataAt, chunk.length - pos)
    chunk.copy(this.#current!.data!, this.#dataAt, pos, pos + n)
    this.#dataAt += n
    if (this.#dataAt === this.#dataEnd) this.#endChunk()
    return pos + n
  }

  #endChunk(): void {
    this.#mode = 'header'
    const request = this.#current!
    this.#current = undefined
    if ((this.#chunkFlags & ReplyFlag.DONE) === 0) return
    if (
      request.error === undefined &&
      request.command === Cmd.READ &&
      (request.coverage?.covered ?? 0) !== request.length
    ) {
      throw incompleteRead(request, request.coverage)
    }
    if (request.command === Cmd.READ) this.#largeReads = request.length >= DIRECT_THRESHOLD
    this.#sink.complete(request)
  }
}

function cover(request: InFlight, at: number, length: number): void {
  request.coverage ??= new ReadCoverage()
  request.coverage.add(at, length, request)
}
