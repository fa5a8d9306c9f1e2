// Pull-style reading of exact byte counts from an AsyncIterable<Uint8Array> (a Node stream, an HTTP body).
// Memory stays bounded by the largest read plus one source chunk: nothing is allocated for bytes that
// have not arrived, so an absurd length in a hostile header costs nothing until data backs it.
import { raceAbort, throwIfAborted } from '../shared/abort.js'
import { VhdError, VhdErrorCode } from './errors.js'

export class ByteReader {
  readonly #iterator: AsyncIterator<Uint8Array>
  readonly #what: string
  #chunks: Uint8Array[] = []
  #buffered = 0
  #position = 0
  #done = false
  #pulling = false

  constructor(source: AsyncIterable<Uint8Array>, what: string) {
    this.#iterator = source[Symbol.asyncIterator]()
    this.#what = what
  }

  /** Bytes consumed so far (the stream offset of the next byte). */
  get position(): number {
    return this.#position
  }

  /**
   * Exactly `length` bytes; a view into the source chunk when it holds them all (no copy), else
   * gathered into `into` when given (at least `length` bytes, which the caller may reuse), or a new array.
   */
  async read(length: number, what: string, signal?: AbortSignal, into?: Uint8Array): Promise<Uint8Array> {
    while (this.#buffered < length) {
      if (!(await this.#pull(signal))) this.#truncated(length, what)
    }
    this.#position += length
    this.#buffered -= length
    const first = this.#chunks[0]!
    if (first.length >= length) {
      this.#chunks[0] = first.subarray(length)
      if (first.length === length) this.#chunks.shift()
      return first.subarray(0, length)
    }
    const out =
      into !== undefined && into.length >= length ? into.subarray(0, length) : new Uint8Array(length)
    let filled = 0
    while (filled < length) {
      const chunk = this.#chunks[0]!
      const take = Math.min(chunk.length, length - filled)
      out.set(chunk.subarray(0, take), filled)
      filled += take
      if (take === chunk.length) this.#chunks.shift()
      else this.#chunks[0] = chunk.subarray(take)
    }
    return out
  }

  async skip(length: number, what: string, signal?: AbortSignal): Promise<void> {
    let left = length
    while (left > 0) {
      if (this.#buffered === 0 && !(await this.#pull(signal))) this.#truncated(length, what)
      const chunk = this.#chunks[0]!
      const take = Math.min(chunk.length, left)
      if (take === chunk.length) this.#chunks.shift()
      else this.#chunks[0] = chunk.subarray(take)
      this.#buffered -= take
      this.#position += take
      left -= take
    }
  }

  /** Consumes the rest of the stream; returns its length and its last `keep` bytes. */
  async readToEnd(keep: number, signal?: AbortSignal): Promise<{ length: number; tail: Uint8Array }> {
    let length = 0
    let tail: Uint8Array = new Uint8Array(0)
    for (;;) {
      for (const chunk of this.#chunks) {
        length += chunk.length
        tail = lastBytes(tail, chunk, keep)
      }
      this.#position += this.#buffered
      this.#chunks = []
      this.#buffered = 0
      if (!(await this.#pull(signal))) return { length, tail }
    }
  }

  /** Stops reading: lets the source release its resources (a Node stream is destroyed). */
  async close(): Promise<void> {
    this.#done = true
    this.#chunks = []
    const returned = this.#iterator.return?.()
    // After an abort a pull may still be pending on a stalled source, and an async generator's return()
    // waits behind it: ask the source to stop, but do not wait for it then.
    if (this.#pulling) returned?.catch(() => undefined)
    else await returned
  }

  async #pull(signal?: AbortSignal): Promise<boolean> {
    throwIfAborted(signal)
    if (this.#done) return false
    for (;;) {
      this.#pulling = true
      const pending = this.#iterator.next()
      pending.then(
        () => (this.#pulling = false),
        () => (this.#pulling = false),
      )
      const next = await raceAbort(pending, signal)
      if (next.done === true) {
        this.#done = true
        return false
      }
      if (next.value.length === 0) continue
      this.#chunks.push(next.value)
      this.#buffered += next.value.length
      return true
    }
  }

  #truncated(length: number, what: string): never {
    throw new VhdError(
      VhdErrorCode.truncated,
      `${this.#what}: stream ends at byte ${this.#position + this.#buffered} inside the ${what} (${length} bytes at ${this.#position})`,
      { details: { offset: this.#position } },
    )
  }
}

function lastBytes(previous: Uint8Array, chunk: Uint8Array, keep: number): Uint8Array {
  if (chunk.length >= keep) return chunk.slice(chunk.length - keep)
  const joined = new Uint8Array(Math.min(keep, previous.length + chunk.length))
  const fromPrevious = joined.length - chunk.length
  joined.set(previous.subarray(previous.length - fromPrevious), 0)
  joined.set(chunk, fromPrevious)
  return joined
}
