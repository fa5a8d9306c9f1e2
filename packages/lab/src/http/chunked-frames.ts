// The body of `PUT /import_raw_vdi?format=raw&chunked` (xapi.md §4.3, vhd-tool's chunked.ml): frames of
// {u64 LE offset, u32 LE length, <length bytes>}, each written at its offset of the VDI, ended by the
// frame offset=0,length=0. A frame of length 0 elsewhere writes nothing. Pure format code: bytes are
// pushed in as the socket gave them, the pieces to write come out, and every way a body can be wrong is
// a typed error (the handler fails the task with VDI_IO_ERROR on any of them, as xapi does). The frame
// layout is the one core encodes (its codec, as the lab takes CBT's and XML-RPC's).
import { FRAME_HEADER_SIZE } from '@strata/core/xapi'

export type ChunkedFrameErrorCode =
  /** A frame's bytes end past the VDI's virtual size. */
  | 'CHUNKED_BEYOND_END'
  /** The body ended inside a frame (its header or its data). */
  | 'CHUNKED_TRUNCATED'
  /** The body ended on a frame boundary without the terminating frame. */
  | 'CHUNKED_UNTERMINATED'
  /** Bytes came after the terminating frame. */
  | 'CHUNKED_TRAILING'

export class ChunkedFrameError extends Error {
  constructor(
    readonly code: ChunkedFrameErrorCode,
    message: string,
  ) {
    super(message)
    this.name = 'ChunkedFrameError'
  }
}

/** Bytes to write at `offset` of the VDI. */
export interface FramePiece {
  readonly offset: number
  readonly data: Buffer
}

/**
 * A push parser of one chunked body for a VDI of `size` bytes. A frame's data comes out in pieces that
 * end at a multiple of `pieceSize` or at the frame's end (a whole aligned block is one piece: one write),
 * each in a buffer of its own (the caller may write several at once).
 */
export class ChunkedFrameParser {
  readonly #size: number
  readonly #pieceSize: number
  readonly #header = Buffer.alloc(FRAME_HEADER_SIZE)
  #headerFill = 0
  /** The frame being received: where its next byte goes and where it ends. */
  #at = 0
  #end = 0
  #piece: Buffer | undefined
  #pieceFill = 0
  #done = false
  #frames = 0
  #failure: unknown

  constructor(size: number, pieceSize = 2 * 1024 * 1024) {
    this.#size = size
    this.#pieceSize = pieceSize
  }

  /** The terminating frame was received. */
  get done(): boolean {
    return this.#done
  }

  /**
   * The pieces completed by `chunk`. A frame past the end or bytes after the terminator throw; when
   * pieces came before them in the same chunk, those are returned first and the error thrown by the next
   * call (vhd-tool writes each frame before it reads the next header).
   */
  push(chunk: Uint8Array): FramePiece[] {
    if (this.#failure !== undefined) throw this.#failure
    const out: FramePiece[] = []
    try {
      for (let k = 0; k < chunk.length;) {
        if (this.#done) {
          throw new ChunkedFrameError(
            'CHUNKED_TRAILING',
            `${chunk.length - k} bytes after the terminating frame (frame ${this.#frames})`,
          )
        }
        k = this.#at < this.#end ? this.#data(chunk, k, out) : this.#headerBytes(chunk, k)
      }
    } catch (error) {
      if (out.length === 0) throw error
      this.#failure = error
    }
    return out
  }

  /** The body ended: throws unless it ended with the terminating frame. */
  end(): void {
    if (this.#failure !== undefined) throw this.#failure
    if (this.#done) return
    if (this.#headerFill > 0 || this.#at < this.#end) {
      throw new ChunkedFrameError('CHUNKED_TRUNCATED', `the body ended inside frame ${this.#frames}`)
    }
    throw new ChunkedFrameError(
      'CHUNKED_UNTERMINATED',
      `the body ended after ${this.#frames} frames without the terminating frame`,
    )
  }

  #headerBytes(chunk: Uint8Array, k: number): number {
    const n = Math.min(FRAME_HEADER_SIZE - this.#headerFill, chunk.length - k)
    this.#header.set(chunk.subarray(k, k + n), this.#headerFill)
    this.#headerFill += n
    if (this.#headerFill < FRAME_HEADER_SIZE) return k + n
    this.#headerFill = 0
    const offset = this.#header.readBigUInt64LE(0)
    const length = this.#header.readUInt32LE(8)
    if (offset === 0n && length === 0) {
      this.#done = true
      return k + n
    }
    this.#frames++
    if (offset + BigInt(length) > BigInt(this.#size)) {
      throw new ChunkedFrameError(
        'CHUNKED_BEYOND_END',
        `frame ${this.#frames} writes ${length} bytes at ${offset}, past the VDI's ${this.#size} bytes`,
      )
    }
    this.#at = Number(offset)
    this.#end = this.#at + length
    return k + n
  }

  #data(chunk: Uint8Array, k: number, out: FramePiece[]): number {
    if (this.#piece === undefined) {
      const boundary = (Math.floor(this.#at / this.#pieceSize) + 1) * this.#pieceSize
      this.#piece = Buffer.allocUnsafe(Math.min(this.#end, boundary) - this.#at)
      this.#pieceFill = 0
    }
    const n = Math.min(this.#piece.length - this.#pieceFill, chunk.length - k)
    this.#piece.set(chunk.subarray(k, k + n), this.#pieceFill)
    this.#pieceFill += n
    if (this.#pieceFill === this.#piece.length) {
      out.push({ offset: this.#at, data: this.#piece })
      this.#at += this.#piece.length
      this.#piece = undefined
    }
    return k + n
  }
}
