// Bytes received during the handshake, read as exact-length messages. The handshake is a short
// request/answer dialogue, so simplicity beats speed here; the transmission phase uses ReplyDecoder.
import { AbortedError } from '../shared/errors.js'
import { NbdError } from './errors.js'

interface Waiter {
  length: number
  resolve: (b: Buffer) => void
  reject: (error: unknown) => void
}

export class ByteQueue {
  #chunks: Buffer[] = []
  #available = 0
  #waiter: Waiter | undefined
  #ended: Error | undefined
  readonly #staging = Buffer.allocUnsafe(64 * 1024)

  receiveBuffer(): Buffer {
    return this.#staging
  }

  received(n: number, buffer: Buffer): void {
    this.consume(Buffer.from(buffer.subarray(0, n)))
  }

  consume(chunk: Buffer): void {
    this.#chunks.push(chunk)
    this.#available += chunk.length
    this.#serve()
  }

  /** The stream ended or failed: pending and later reads fail with `error`. */
  end(error: Error): void {
    this.#ended ??= error
    this.#serve()
  }

  /** Reads exactly `length` bytes; rejects when the stream ends first or the signal fires. */
  read(length: number, signal?: AbortSignal): Promise<Buffer> {
    if (this.#waiter !== undefined) return Promise.reject(new Error('ByteQueue: concurrent reads'))
    if (signal?.aborted) return Promise.reject(new AbortedError(signal.reason))
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        this.#waiter = undefined
        reject(new AbortedError(signal?.reason))
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#waiter = {
        length,
        resolve: (b) => (signal?.removeEventListener('abort', onAbort), resolve(b)),
        reject: (e) => (signal?.removeEventListener('abort', onAbort), reject(e)),
      }
      this.#serve()
    })
  }

  /** Exactly `length` bytes if they have arrived already (and nobody waits), else undefined: no promise. */
  tryRead(length: number): Buffer | undefined {
    if (this.#waiter !== undefined || this.#available < length) return undefined
    return this.#take(length)
  }

  /** Whatever arrived beyond the last read (handed to the next stage). */
  takeRest(): Buffer {
    const rest = Buffer.concat(this.#chunks)
    this.#chunks = []
    this.#available = 0
    return rest
  }

  #serve(): void {
    const waiter = this.#waiter
    if (waiter === undefined) return
    if (this.#available >= waiter.length) {
      this.#waiter = undefined
      waiter.resolve(this.#take(waiter.length))
    } else if (this.#ended !== undefined) {
      this.#waiter = undefined
      waiter.reject(this.#endError(waiter.length))
    }
  }

  #take(length: number): Buffer {
    const all = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks)
    const rest = all.subarray(length)
    this.#chunks = rest.length > 0 ? [rest] : []
    this.#available = rest.length
    return all.subarray(0, length)
  }

  #endError(wanted: number): Error {
    const ended = this.#ended!
    if (this.#available > 0) {
      return new NbdError(
        'NBD_SHORT_REPLY',
        `connection closed after ${this.#available} of ${wanted} bytes`,
        {
          cause: ended,
          retryable: true,
        },
      )
    }
    if (ended instanceof NbdError) return ended
    return new NbdError('NBD_CONNECTION_CLOSED', `connection closed: ${ended.message}`, {
      cause: ended,
      retryable: true,
    })
  }
}
