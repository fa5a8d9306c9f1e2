// Hashing, compression and encryption of chunks on all cores: a pool of worker threads shared by every
// repository of the process. Small objects (indexes, manifests, tiny chunks) are handled in the calling
// thread, where a round trip would cost more than the work. Workers never keep the process alive while
// idle, and a worker that dies fails its requests and is replaced.
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { StrataError } from '../shared/errors.js'
import { workerUrl } from '../shared/worker-url.js'
import { chunkIdFunction } from './crypto/chunk-id.js'
import { decodeObjectInto, encodeObject, maxEncodedLength, type CodecOptions } from './object-codec.js'
import { sha256Of, transferable, type CodecReply, type CodecRequest } from './codec-protocol.js'
import { RepositoryError, type RepositoryErrorCode } from './errors.js'

/** Below this many bytes the work is done in the calling thread. */
const IN_THREAD_BELOW = 64 * 1024
/**
 * Inputs the caller keeps (chunks it may reuse) go to the workers through shared memory, copied once
 * into a reused slot: posting them would serialize a fresh copy each time (slower, and fresh memory
 * costs page faults). At most this many slots; past them, inputs are posted as copies.
 */
const MAX_SHARED_SLOTS = 32

/** Bytes lent from a reused slot of shared memory: `release()` gives the slot back (once). */
export interface SharedBytes {
  readonly bytes: Uint8Array
  readonly release: () => void
}

type Answer = { result: Uint8Array; sha256?: string }
type Pending = { resolve: (answer: Answer) => void; reject: (error: Error) => void }
type Body = CodecRequest extends infer R ? (R extends CodecRequest ? Omit<R, 'id'> : never) : never

interface Slot {
  worker: Worker
  pending: Map<number, Pending>
  dead: boolean
}

export class CodecPool {
  static #shared: CodecPool | undefined

  /** The process-wide pool, one worker per core. */
  static shared(): CodecPool {
    return (CodecPool.#shared ??= new CodecPool(availableParallelism()))
  }

  readonly #slots: (Promise<Slot> | undefined)[]
  #next = 0
  #ids = 0
  /** Free shared input slots, by size; #sharedCount counts those lent out too. */
  readonly #freeSlots = new Map<number, SharedArrayBuffer[]>()
  #sharedCount = 0

  constructor(readonly size: number) {
    this.#slots = Array.from({ length: Math.max(1, size) }, () => undefined)
  }

  chunkId(data: Uint8Array, idKey: Uint8Array | undefined): Promise<Buffer> {
    if (data.length < IN_THREAD_BELOW) return Promise.resolve(chunkIdFunction(idKey)(data))
    return this.#withShared(data, (shared) => this.#call({ op: 'id', data: shared, idKey }, [])).then(
      asBuffer,
    )
  }

  encode(kind: number, plain: Uint8Array, binding: Uint8Array, options: CodecOptions): Promise<Buffer> {
    if (plain.length < IN_THREAD_BELOW) return Promise.resolve(encodeObject(kind, plain, binding, options))
    const { dataKey, level } = options
    return this.#withShared(plain, (shared) =>
      this.#call({ op: 'encode', kind, data: shared, binding, dataKey, level }, []),
    ).then(asBuffer)
  }

  /**
   * encode, with the result in a reused slot of shared memory instead of a new buffer per object (which
   * would cost page faults and, moved to this thread, collections): `release()` once it is written. With
   * `sha256`, the result's SHA-256 comes along, computed where the bytes were made.
   */
  async encodeShared(
    kind: number,
    plain: Uint8Array,
    binding: Uint8Array,
    options: CodecOptions & { sha256?: boolean },
  ): Promise<SharedBytes & { sha256?: string }> {
    const out = plain.length < IN_THREAD_BELOW ? undefined : this.#takeSlot(maxEncodedLength(plain.length))
    if (out === undefined) {
      const bytes = await this.encode(kind, plain, binding, options)
      return { bytes, sha256: options.sha256 === true ? sha256Of(bytes) : undefined, release: () => {} }
    }
    const release = this.#releaser(out)
    try {
      const { dataKey, level } = options
      const request = { kind, binding, dataKey, level, out: new Uint8Array(out), sha256: options.sha256 }
      const answer = await this.#withShared(plain, (shared) =>
        this.#answer({ op: 'encode', data: shared, ...request }, []),
      )
      // The reply views the same memory through another SharedArrayBuffer object: view our own.
      const bytes = new Uint8Array(out, 0, answer.result.byteLength)
      return { bytes, sha256: answer.sha256, release }
    } catch (error) {
      release()
      throw error
    }
  }

  /**
   * A copy of `data` in shared memory, which chunkId and encode then take without copying again: for a
   * chunk that is both hashed and stored. `release()` once the calls have settled. Without a free slot,
   * for small data, or for data in shared memory already, `bytes` is `data` itself.
   */
  stage(data: Uint8Array): SharedBytes {
    // Already shared (a reader filled shared memory): taken as it is, no copy.
    if (data.buffer instanceof SharedArrayBuffer) return { bytes: data, release: () => {} }
    const slot = data.length < IN_THREAD_BELOW ? undefined : this.#takeSlot(data.length)
    if (slot === undefined) return { bytes: data, release: () => {} }
    const bytes = new Uint8Array(slot)
    bytes.set(data)
    return { bytes, release: this.#releaser(slot) }
  }

  /** Runs `use` with `data` in shared memory: itself if it is there already, else a staged copy. */
  async #withShared<T>(data: Uint8Array, use: (shared: Uint8Array) => Promise<T>): Promise<T> {
    if (data.buffer instanceof SharedArrayBuffer) return use(data)
    const staged = this.stage(data)
    try {
      return await use(staged.bytes)
    } finally {
      staged.release()
    }
  }

  /** Gives `slot` back on the first call only: a slot is never lent twice. */
  #releaser(slot: SharedArrayBuffer): () => void {
    let released = false
    return () => {
      if (!released) this.#giveSlot(slot)
      released = true
    }
  }

  #takeSlot(size: number): SharedArrayBuffer | undefined {
    const slot = this.#freeSlots.get(size)?.pop()
    if (slot !== undefined || this.#sharedCount >= MAX_SHARED_SLOTS) return slot
    this.#sharedCount++
    return new SharedArrayBuffer(size)
  }

  #giveSlot(slot: SharedArrayBuffer): void {
    const free = this.#freeSlots.get(slot.byteLength) ?? []
    free.push(slot)
    this.#freeSlots.set(slot.byteLength, free)
  }

  /**
   * Decodes a stored object into `out`, which the caller owns and reuses (no new buffer per object,
   * which would cost page faults and, moved between threads, garbage collections); resolves to the view
   * of `out` holding the plaintext. `out` must be shared memory for the work to go to a worker;
   * otherwise it is done here. `bytes` is handed over: the caller must not use it afterwards (it may be
   * moved to a worker).
   */
  async decodeInto(
    out: Uint8Array,
    bytes: Uint8Array,
    kind: number,
    binding: Uint8Array,
    dataKey: Uint8Array | undefined,
    what: string,
  ): Promise<Uint8Array> {
    // Small stored bytes (a chunk that compressed well) still expand here, in the caller's thread.
    if (bytes.length < IN_THREAD_BELOW || !(out.buffer instanceof SharedArrayBuffer))
      return out.subarray(0, decodeObjectInto(out, bytes, kind, binding, dataKey, what))
    const request = { op: 'decode', kind, data: bytes, binding, dataKey, what, out } as const
    const written = await this.#call(request, transferable(bytes))
    // The reply views the same memory through another SharedArrayBuffer object: view the caller's own.
    return out.subarray(0, written.byteLength)
  }

  /** Starts the workers now, so that the first requests do not wait for them (~50 ms each). */
  warm(): void {
    for (let i = 0; i < this.#slots.length; i++) {
      this.#slots[i] ??= this.#startAt(i)
    }
  }

  /** Stops the workers; later calls start new ones. */
  async close(): Promise<void> {
    const slots = this.#slots.splice(0, this.#slots.length, ...this.#slots.map(() => undefined))
    await Promise.all(slots.map(async (s) => stop(await s?.catch(() => undefined))))
  }

  async #call(body: Body, transfer: ArrayBuffer[]): Promise<Uint8Array> {
    return (await this.#answer(body, transfer)).result
  }

  async #answer(body: Body, transfer: ArrayBuffer[]): Promise<Answer> {
    const index = this.#next
    this.#next = (this.#next + 1) % this.#slots.length
    let slot = await (this.#slots[index] ??= this.#startAt(index))
    if (slot.dead) slot = await (this.#slots[index] = this.#startAt(index))
    const id = ++this.#ids
    return new Promise<Answer>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject })
      if (slot.pending.size === 1) slot.worker.ref()
      slot.worker.postMessage({ ...body, id }, transfer)
    })
  }

  /** Starts the worker of slot `index`; a start that fails frees the slot for the next call to retry. */
  #startAt(index: number): Promise<Slot> {
    const started = this.#start()
    started.catch(() => {
      if (this.#slots[index] === started) this.#slots[index] = undefined
    })
    return started
  }

  async #start(): Promise<Slot> {
    // No flags of the parent (such as --input-type, which a worker started from a file refuses).
    const worker = new Worker(await workerUrl(import.meta.url, 'codec-worker'), { execArgv: [] })
    const slot: Slot = { worker, pending: new Map(), dead: false }
    worker.on('message', (reply: CodecReply) => {
      const waiting = slot.pending.get(reply.id)
      if (waiting === undefined) return
      slot.pending.delete(reply.id)
      if (slot.pending.size === 0) worker.unref()
      if (reply.error === undefined) waiting.resolve(reply)
      else waiting.reject(rebuildError(reply.error))
    })
    const fail = (error: Error): void => {
      slot.dead = true // replaced on next use
      for (const waiting of slot.pending.values()) waiting.reject(error)
      slot.pending.clear()
    }
    worker.on('error', (cause) =>
      fail(new StrataError('INTERNAL', `a codec worker failed: ${cause.message}`, { cause })),
    )
    worker.on('exit', (code) =>
      fail(new StrataError('INTERNAL', `a codec worker stopped (exit code ${code})`)),
    )
    worker.unref() // after the listeners: adding a 'message' listener refs the worker again
    return slot
  }
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

const REPOSITORY_CODES = new Set<string>([
  'CORRUPT_OBJECT',
  'INVALID_ARGUMENT',
] satisfies RepositoryErrorCode[])

function rebuildError(error: { code: string; message: string }): Error {
  return REPOSITORY_CODES.has(error.code)
    ? new RepositoryError(error.code as RepositoryErrorCode, error.message)
    : new StrataError(error.code, error.message)
}

/**
 * A closed slot's requests fail at once, whether or not the worker had answered yet: a reply racing the
 * termination must not make close() sometimes lose and sometimes keep them.
 */
async function stop(slot: Slot | undefined): Promise<void> {
  if (slot === undefined) return
  slot.dead = true
  const closed = new StrataError('INTERNAL', 'the codec pool was closed before the answer came')
  for (const waiting of slot.pending.values()) waiting.reject(closed)
  slot.pending.clear()
  await slot.worker.terminate()
}
