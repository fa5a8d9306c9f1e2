// Stores a backup session's chunks and makes sure that GC cannot take them before the commit
// (docs/repository-format.md, "Concurrency"). A chunk costs one request on its own: a create-only put
// (or, where the store cannot create atomically or most chunks turn out to exist, a stat first). What
// GC-safety needs after that is batched: one borrow segment and one sweep listing cover every chunk
// stored or found in the batch. When that listing comes back within the check window of a chunk's
// request and shows no sweep in force, the chunk needs nothing more; otherwise a chunk this session
// created is checked again at commit, and one it found (borrowed) is checked after the sweeps end,
// with its bytes still at hand to store it again if a GC took it.
import { raceAbort, type StrataError } from '../shared/index.js'
import { RepositoryError, shortId } from './errors.js'
import type { Repository } from './repository.js'
import { since, instant, type BackupSession, type Instant } from './session.js'
import { chunkIsSound, quarantineChunk } from './quarantine.js'

/** Stores of one chunk that GCs may undo (each needs a GC deleting it anew) before giving up. */
const MAX_STORE_ATTEMPTS = 5
/** Stats at once when chunks are checked one by one (after a sweep, or at commit). */
const CHECKS_IN_FLIGHT = 16

export interface UploadOptions {
  /** Marked bad by verify: never trust an existing copy without reading it back. */
  readonly fresh?: boolean
  /** Called (possibly after the put resolved) if the created chunk must be checked again at commit. */
  readonly onNoted: () => void
  readonly signal?: AbortSignal
}

type Kind = 'created' | 'borrowed'
type Outcome = 'safe' | 'noted' | 'present' | 'gone'

interface Pending {
  readonly id: Uint8Array
  readonly kind: Kind
  /** When the request that created or found the chunk was sent. */
  readonly sent: Instant
  readonly done: (outcome: Outcome) => void
  readonly fail: (error: unknown) => void
}

export class ChunkUploader {
  #queue: Pending[] = []
  #timer: NodeJS.Timeout | undefined
  readonly #checks = new Set<Promise<unknown>>()
  #failure: unknown
  /** Share of recent chunks that existed already: high, and a stat first saves uploading them. */
  #existing = 0
  /** Ids (hex) of chunks verify had marked bad that this session stored afresh. */
  readonly fresh: string[] = []

  constructor(
    readonly repo: Repository,
    readonly session: BackupSession,
    /** The backup's own signal: batch checks serve many callers, so no single caller's. */
    readonly signal?: AbortSignal,
  ) {}

  /** Stores a chunk, or borrows it if it exists; resolves to the bytes stored (0: borrowed) once `data` is free. */
  async put(id: Buffer, data: Uint8Array, options: UploadOptions): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      const found = await this.#createOrFind(id, data, options)
      if (found.bytes > 0) {
        this.#track(this.#check(id, 'created', found.sent).then((o) => o === 'noted' && options.onNoted()))
        return found.bytes
      }
      if ((await raceAbort(this.#check(id, 'borrowed', found.sent), options.signal)) === 'present') return 0
      // Gone: a GC deleted it between our finding it and our borrow: store it again.
      if (attempt === MAX_STORE_ATTEMPTS) {
        const what = this.repo.describeChunk(id.toString('hex'))
        throw new RepositoryError(
          'GC_UNSAFE',
          `${what} was deleted ${attempt} times while a backup stored it`,
        )
      }
    }
  }

  /** Borrows a chunk by id alone (a resumed backup's), if the repository holds it; false: supply the bytes. */
  async adopt(id: Uint8Array, signal?: AbortSignal): Promise<boolean> {
    const sent = instant()
    if (!(await this.repo.hasChunk(Buffer.from(id).toString('hex'), signal))) return false
    return (await raceAbort(this.#check(id, 'borrowed', sent), signal)) === 'present'
  }

  /** Waits for every batch check; throws the first failure (a lapsed session, a store error). */
  async settle(signal?: AbortSignal): Promise<void> {
    while (this.#checks.size > 0) await raceAbort(Promise.allSettled([...this.#checks]), signal)
    if (this.#failure !== undefined) throw this.#failure
  }

  /**
   * At commit: once the sweeps in force now have ended, which of `ids` are gone? Those cannot be stored
   * again (their bytes are no longer at hand).
   */
  async missing(ids: Iterable<Uint8Array>, signal?: AbortSignal): Promise<string[]> {
    await this.session.sweepsEnded(signal)
    const gone: string[] = []
    const iterator = ids[Symbol.iterator]()
    const walker = async (): Promise<void> => {
      for (let next = iterator.next(); !next.done; next = iterator.next()) {
        const hex = Buffer.from(next.value).toString('hex')
        if (!(await this.repo.hasChunk(hex, signal))) gone.push(hex)
      }
    }
    await Promise.all(Array.from({ length: CHECKS_IN_FLIGHT }, walker))
    return gone
  }

  async #createOrFind(
    id: Buffer,
    data: Uint8Array,
    options: UploadOptions,
  ): Promise<{ bytes: number; sent: Instant }> {
    const { signal } = options
    const hex = id.toString('hex')
    if (options.fresh === true) return this.#createFresh(id, hex, data, signal)
    const atomic = this.repo.store.capabilities.conditionalCreate
    let sent = instant()
    if (!atomic || this.#existing >= 0.25) {
      if (await this.repo.hasChunk(hex, signal)) return this.#found(true, 0, sent)
      sent = instant()
    }
    // Without atomic creation the store would look again first: we just did.
    const bytes = await this.repo.storeChunk(id, data, signal, { createOnly: atomic })
    return this.#found(bytes === 0, bytes, sent)
  }

  #found(existed: boolean, bytes: number, sent: Instant): { bytes: number; sent: Instant } {
    this.#existing = this.#existing * 0.9 + (existed ? 0.1 : 0)
    return { bytes, sent }
  }

  /** A chunk verify marked bad: a copy found under its name is read back, and moved away if corrupt. */
  async #createFresh(
    id: Buffer,
    hex: string,
    data: Uint8Array,
    signal?: AbortSignal,
  ): Promise<{ bytes: number; sent: Instant }> {
    for (let attempt = 1; ; attempt++) {
      const sent = instant()
      const bytes = await this.repo.storeChunk(id, data, signal)
      // Created, or found sound: another backup stored it afresh first.
      if (bytes > 0 || (await chunkIsSound(this.repo, hex, signal))) {
        this.fresh.push(hex)
        return { bytes, sent }
      }
      if (attempt === MAX_STORE_ATTEMPTS)
        throw new RepositoryError('CORRUPT_OBJECT', `${this.repo.describeChunk(hex)} stays corrupt`)
      await quarantineChunk(this.repo, hex, 'corrupt copy found by a backup storing it again', signal)
    }
  }

  #check(id: Uint8Array, kind: Kind, sent: Instant): Promise<Outcome> {
    const check = new Promise<Outcome>((done, fail) => this.#queue.push({ id, kind, sent, done, fail }))
    if (this.#timer === undefined) this.#timer = setTimeout(() => this.#flush(), this.session.timing.batchMs)
    return check
  }

  /** Keeps a background check's failure for settle(), so that none goes unhandled or unseen. */
  #track(check: Promise<unknown>): void {
    const tracked = check.catch((error: unknown) => void (this.#failure ??= error))
    this.#checks.add(tracked)
    void tracked.finally(() => this.#checks.delete(tracked))
  }

  #flush(): void {
    const batch = this.#queue
    this.#queue = []
    this.#timer = undefined
    this.#track(
      this.#checkBatch(batch).catch((error: unknown) => {
        for (const p of batch) p.fail(error)
      }),
    )
  }

  async #checkBatch(batch: Pending[]): Promise<void> {
    const { signal } = this
    const borrowed = batch.filter((p) => p.kind === 'borrowed')
    // Published before the listing: a sweep announced after the listing started reads it.
    if (borrowed.length > 0)
      await this.session.publishBorrowed(
        borrowed.map((p) => p.id),
        signal,
      )
    else this.session.assertAlive()
    const inForce = await this.session.sweeps.inForce(signal)
    const window = this.session.timing.checkWindowMs
    const late: Pending[] = []
    for (const p of batch) {
      if (inForce.size === 0 && since(p.sent) < window) p.done(p.kind === 'created' ? 'safe' : 'present')
      else if (p.kind === 'created') p.done('noted')
      else late.push(p)
    }
    if (late.length === 0) return
    // Found chunks whose bytes the callers still hold: once the sweeps end, a look tells whether to store them again.
    await this.session.sweeps.ended(inForce, signal)
    let next = 0
    const walker = async (): Promise<void> => {
      for (let p = late[next++]; p !== undefined; p = late[next++]) {
        const hex = Buffer.from(p.id).toString('hex')
        p.done((await this.repo.hasChunk(hex, signal)) ? 'present' : 'gone')
      }
    }
    await Promise.all(Array.from({ length: CHECKS_IN_FLIGHT }, walker))
  }
}

export function chunksMissing(repo: Repository, disk: string, missing: readonly string[]): StrataError {
  return new RepositoryError(
    'CHUNK_MISSING',
    `chunk ${shortId(missing[0]!)} of disk '${disk}' in repository '${repo.name}' (and ${missing.length - 1} ` +
      'more) was deleted by a concurrent GC sweep after this backup stored it; run the backup again',
    { retryable: true },
  )
}
