// The repository: config, keys, chunks and restore points on an ObjectStore. Every object is created once;
// chunks are content-addressed; a restore point is committed by writing its manifest last.
import { createHmac, hkdfSync, randomUUID } from 'node:crypto'
import { throwIfAborted } from '../shared/index.js'
import { isNotFound, StorageError, type ObjectStore, type Retention } from '../storage/index.js'
import { RepositoryError, shortId } from './errors.js'
import { chunkIdFunction, type ChunkIdFunction } from './crypto/chunk-id.js'
import { CodecPool } from './codec-pool.js'
import { checkNewSecret, deriveKeys, makeKeySlot, newMasterKey, DEFAULT_SCRYPT } from './crypto/keys.js'
import { decodeObject, encodeObject, maxPlainLength } from './object-codec.js'
import { decodeConfig, encodeConfig, isValidChunkSize, type RepositoryConfig } from './format/config.js'
import { assertObjectLock, retentionFrom } from './immutability.js'
import { HKDF_INFO_TIER_KEY } from './format/tier.js'
import { readColdChunk, type AttachedTier, type TierReads } from './tier-read.js'
import type { CreateOptions, KeySlotInfo, KeySlotOptions, OpenOptions } from './repository-options.js'

export type { CreateOptions, KeySlotInfo, KeySlotOptions, OpenOptions } from './repository-options.js'
import { decodeKeySlot, encodeKeySlot } from './format/key-slot.js'
import { POINT_INDEX_READY_KEY, encodeReady } from './format/point-index.js'
import { slotFingerprint } from './format/seal.js'
import {
  DEFAULT_CHUNK_SIZE,
  ENVELOPE_HEADER_LENGTH,
  GCM_NONCE_LENGTH,
  GCM_TAG_LENGTH,
  KEY_CONFIG,
  KIND_CHUNK,
  PREFIX_BAD,
  PREFIX_KEYS,
} from './format/constants.js'
import { badKey, chunkKey } from './format/layout.js'
import { checkConfigAgainst, checkSealAgainst, identityOf, type RepositoryIdentity } from './identity.js'
import { checkPlain, configChanged, firstKeyObject, readBounded, readSlots } from './key-ring.js'
import { sealLegacy, trustedSlots, unlock, writeSeal } from './key-ring.js'

/** A config is a few hundred bytes: a larger object is not one (and is not read whole). */
const MAX_CONFIG_BYTES = 64 * 1024

export class Repository {
  readonly chunkId: ChunkIdFunction
  readonly #dataKey: Uint8Array | undefined
  readonly #idKey: Uint8Array | undefined
  readonly #master: Uint8Array | undefined
  #sealed: boolean
  /** Chunks are hashed, encoded and decoded on the pool's worker threads. */
  readonly #codec = CodecPool.shared()
  /** The cold tier (tier.ts), once attached: chunks missing from `store` are read from it. */
  #cold: AttachedTier | undefined
  readonly tierReads: TierReads = { hotBytes: 0, coldBytes: 0, coldChunks: 0 }

  private constructor(
    readonly store: ObjectStore,
    readonly config: RepositoryConfig,
    master: Uint8Array | undefined,
    sealed: boolean,
  ) {
    const keys = master && deriveKeys(master)
    this.#master = master
    this.#dataKey = keys?.dataKey
    this.#idKey = keys?.idKey
    this.#sealed = sealed
    this.chunkId = chunkIdFunction(keys?.idKey)
  }

  get name(): string {
    return this.store.name
  }

  get chunkSize(): number {
    return this.config.chunkSize
  }

  get encrypted(): boolean {
    return this.#dataKey !== undefined
  }

  /** What a server or a job records at first use and passes back as `expected` to later opens. */
  get identity(): RepositoryIdentity {
    return identityOf(this.config, this.#sealed)
  }

  static async create(store: ObjectStore, options: CreateOptions = {}): Promise<Repository> {
    const { signal } = options
    const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE
    if (!isValidChunkSize(chunkSize)) {
      throw new RepositoryError(
        'INVALID_ARGUMENT',
        `chunk size ${chunkSize}: a power of two from 512 KiB to 4 MiB`,
      )
    }
    if (options.passphrase) checkNewSecret(options.passphrase, options.force, `repository '${store.name}'`)
    if (options.immutable !== undefined) await assertObjectLock(store, signal)
    if ((await store.stat(KEY_CONFIG, { signal })) !== undefined) {
      throw new RepositoryError('REPOSITORY_EXISTS', `a repository already exists in '${store.name}'`)
    }
    // A plain config beside key objects reads as an edited encrypted repository: never write one.
    const leftover = options.passphrase ? undefined : await firstKeyObject(store, signal)
    if (leftover !== undefined) {
      throw new RepositoryError(
        'REPOSITORY_EXISTS',
        `'${store.name}' holds '${leftover}' of an interrupted encrypted init: init it encrypted, or ` +
          'remove keys/ and seals/ first',
      )
    }
    const master = options.passphrase && newMasterKey()
    const config: RepositoryConfig = {
      id: randomUUID(),
      chunkSize,
      encryption: master ? 'aes-256-gcm' : 'none',
      compressionLevel: options.compressionLevel ?? 3,
      created: new Date().toISOString(),
      ...(options.immutable && { immutable: options.immutable }),
    }
    const repo = new Repository(store, config, master, master !== undefined)
    if (master && options.passphrase) {
      const slot = await repo.#putKeySlot(options.passphrase, 'initial passphrase', options)
      await writeSeal(store, config, master, [slot.fingerprint], true, signal)
    }
    // Its point index is complete from the start (no point yet). The config is written last: a crash
    // before it leaves a directory that is not yet a repository.
    await store
      .put(POINT_INDEX_READY_KEY, encodeReady(new Date()), { ifNoneMatch: true, signal })
      .catch((e) => {
        if (!(e instanceof StorageError && e.code === 'ALREADY_EXISTS')) throw e // an interrupted init's
      })
    try {
      await store.put(KEY_CONFIG, encodeConfig(config), { ifNoneMatch: true, signal })
    } catch (error) {
      if (error instanceof StorageError && error.code === 'ALREADY_EXISTS') {
        throw new RepositoryError('REPOSITORY_EXISTS', `a repository already exists in '${store.name}'`)
      }
      throw error
    }
    return repo
  }

  static async open(store: ObjectStore, options: OpenOptions = {}): Promise<Repository> {
    const { signal, expected } = options
    CodecPool.shared().warm() // the workers start while the config is read and the key derived
    let bytes: Uint8Array
    try {
      bytes = await readBounded(store, KEY_CONFIG, MAX_CONFIG_BYTES, `config of '${store.name}'`, signal)
    } catch (error) {
      if (isNotFound(error)) throw new RepositoryError('NOT_A_REPOSITORY', `no repository in '${store.name}'`)
      throw error
    }
    const config = decodeConfig(bytes, `config of repository '${store.name}'`)
    if (expected !== undefined) checkConfigAgainst(store.name, config, expected)
    // Every open: a bucket whose lock went away (another bucket behind the same name) writes unprotected.
    if (config.immutable !== undefined) await assertObjectLock(store, signal)
    if (config.encryption === 'none') {
      await checkPlain(store, options.passphrase !== undefined, signal)
      return new Repository(store, config, undefined, false)
    }
    if (options.passphrase === undefined) {
      throw new RepositoryError(
        'PASSPHRASE_REQUIRED',
        `repository '${store.name}' is encrypted: a passphrase is needed`,
      )
    }
    const unlocked = await unlock(store, config, options.passphrase, signal)
    if (expected !== undefined) checkSealAgainst(store.name, unlocked.seal !== undefined, expected)
    const sealed = unlocked.seal !== undefined || (await sealLegacy(store, config, unlocked, signal))
    return new Repository(store, config, unlocked.master, sealed)
  }

  // --- key slots -------------------------------------------------------------------------------------

  /** Adds a slot that opens with `secret` and trusts it in the seal; resolves to the slot's id. */
  async addKeySlot(secret: Uint8Array, label: string, options: KeySlotOptions = {}): Promise<string> {
    const master = this.#requireMaster()
    checkNewSecret(secret, options.force, `repository '${this.name}'`)
    const trusted = await this.#trusted(master, options.signal)
    const slot = await this.#putKeySlot(secret, label, options)
    await writeSeal(this.store, this.config, master, [...trusted, slot.fingerprint], false, options.signal)
    this.#sealed = true
    return slot.id
  }

  async listKeySlots(signal?: AbortSignal): Promise<KeySlotInfo[]> {
    const master = this.#requireMaster()
    const trusted = new Set(await this.#trusted(master, signal))
    return (await readSlots(this.store, signal)).map((slot) => {
      const { id, label, created } = decodeKeySlot(slot.bytes, `key slot '${slot.key}' in '${this.name}'`)
      return { id, label, created, trusted: trusted.has(slot.fingerprint) }
    })
  }

  /** Removes a slot; refuses to remove the last trusted one, which would lock everyone out. */
  async removeKeySlot(id: string, signal?: AbortSignal): Promise<void> {
    const master = this.#requireMaster()
    const slot = (await readSlots(this.store, signal)).find((s) => s.key === `${PREFIX_KEYS}${id}`)
    if (slot === undefined)
      throw new RepositoryError('INVALID_ARGUMENT', `no key slot '${id}' in '${this.name}'`)
    const trusted = await this.#trusted(master, signal)
    const kept = trusted.filter((f) => f !== slot.fingerprint)
    if (kept.length === 0)
      throw new RepositoryError('INVALID_ARGUMENT', `key slot '${id}' is the last one of '${this.name}'`)
    // The seal stops trusting it first: a crash in between leaves an untrusted slot, never a trusted gap.
    if (kept.length !== trusted.length) await writeSeal(this.store, this.config, master, kept, false, signal)
    await this.store.delete(slot.key, { signal })
  }

  #requireMaster(): Uint8Array {
    if (this.#master === undefined)
      throw new RepositoryError('INVALID_ARGUMENT', `repository '${this.name}' is not encrypted`)
    return this.#master
  }

  /** The slots the seal trusts; a repository not sealed yet trusts the slots it holds. */
  async #trusted(master: Uint8Array, signal?: AbortSignal): Promise<string[]> {
    const sealed = await trustedSlots(this.store, this.config, master, signal)
    if (sealed !== undefined) return sealed
    if (this.#sealed) throw configChanged(this.name, 'its config seal was removed')
    return (await readSlots(this.store, signal)).map((s) => s.fingerprint)
  }

  /** Writes a new key slot (create-only). */
  async #putKeySlot(
    secret: Uint8Array,
    label: string,
    options: KeySlotOptions,
  ): Promise<{ id: string; fingerprint: string }> {
    const cost = options.weakKdfForTests ?? DEFAULT_SCRYPT
    const slot = await makeKeySlot(this.#requireMaster(), secret, label, cost, options.signal)
    const bytes = encodeKeySlot(slot)
    await this.store.put(`${PREFIX_KEYS}${slot.id}`, bytes, { ifNoneMatch: true, signal: options.signal })
    return { id: slot.id, fingerprint: slotFingerprint(bytes) }
  }

  // --- objects ----------------------------------------------------------------------------------------

  encode(kind: number, plain: Uint8Array, binding: Uint8Array): Buffer {
    return encodeObject(kind, plain, binding, { dataKey: this.#dataKey, level: this.config.compressionLevel })
  }

  decode(bytes: Uint8Array, kind: number, binding: Uint8Array, what: string): Uint8Array {
    return decodeObject(bytes, kind, binding, this.#dataKey, what, maxPlainLength(kind, this.chunkSize))
  }

  /** Writes an object that must not exist yet (session and GC records). */
  async putNew(key: string, data: Uint8Array, signal?: AbortSignal): Promise<void> {
    await this.store.put(key, data, { ifNoneMatch: true, signal })
  }

  /** Writes a restore point's object (an index, the manifest): retained in an immutable repository. */
  async putPointObject(key: string, data: Uint8Array, signal?: AbortSignal): Promise<void> {
    await this.store.put(key, data, { ifNoneMatch: true, retain: this.retention(), signal })
  }

  /** The retention of an object written now (immutable repositories), else undefined. */
  retention(): Retention | undefined {
    return this.config.immutable && retentionFrom(this.config.immutable)
  }

  /** HMAC-SHA-256 of `input` under the tier subkey of the master key; undefined in a plain repository. */
  tierMac(input: Uint8Array): Buffer | undefined {
    if (this.#master === undefined) return undefined
    const key = hkdfSync('sha256', this.#master, new Uint8Array(0), HKDF_INFO_TIER_KEY, 32)
    return createHmac('sha256', new Uint8Array(key)).update(input).digest()
  }

  /** Attaches the authenticated tier record with its cold store, or why that did not open (tier.ts). */
  attachTier(attached: AttachedTier): void {
    this.#cold = attached
  }

  /** The cold tier, if the repository has one and it was attached. */
  get cold(): AttachedTier | undefined {
    return this.#cold
  }

  // --- chunks -----------------------------------------------------------------------------------------

  describeChunk(idHex: string): string {
    return `chunk ${shortId(idHex)} in repository '${this.name}'`
  }

  async hasChunk(idHex: string, signal?: AbortSignal): Promise<boolean> {
    return (await this.store.stat(chunkKey(idHex), { signal })) !== undefined
  }

  /**
   * A chunk's bytes staged in memory the codec workers share, for a caller that hashes it and may then
   * store it: chunkIdOf and storeChunk take `bytes` without copying them again. Call `release()` after.
   * Bytes in shared memory already are taken as they are: leave them unchanged until the calls settle.
   */
  stageChunk(plain: Uint8Array): { bytes: Uint8Array; release: () => void } {
    return this.#codec.stage(plain)
  }

  /** The id of a chunk's plaintext, computed on a worker thread. */
  chunkIdOf(plain: Uint8Array): Promise<Buffer> {
    return this.#codec.chunkId(plain, this.#idKey)
  }

  /**
   * Encodes (on a worker thread) and stores a chunk; returns its stored size, or 0 when another writer
   * created it first. `createOnly: false` is for a caller that has just seen the key absent on a store
   * without atomic create-only puts, which would only look again.
   */
  async storeChunk(
    id: Uint8Array,
    plain: Uint8Array,
    signal?: AbortSignal,
    { createOnly = true }: { createOnly?: boolean } = {},
  ): Promise<number> {
    throwIfAborted(signal)
    const { bytes, sha256, release } = await this.#codec.encodeShared(KIND_CHUNK, plain, id, {
      dataKey: this.#dataKey,
      level: this.config.compressionLevel,
      sha256: this.store.capabilities.takesSha256 === true, // hashed on the worker, for the store
    })
    try {
      throwIfAborted(signal)
      const key = chunkKey(Buffer.from(id).toString('hex'))
      await this.store.put(key, bytes, { ifNoneMatch: createOnly, sha256, retain: this.retention(), signal })
    } catch (error) {
      if (error instanceof StorageError && error.code === 'ALREADY_EXISTS') return 0
      throw error
    } finally {
      release() // the store has written or copied the bytes
    }
    return bytes.length
  }

  /**
   * The plaintext of a chunk, authenticated (GCM) or checked against its id (plain repositories), read
   * into `out` (at least chunkSize bytes, shared memory for the work to go to a worker); resolves to
   * the view of `out` holding it. `stored`, if given (storedChunkMax bytes,
   * shared), is where the stored bytes are read on their way: free again once this settles. On error,
   * what `out` holds must not be used.
   */
  async readChunkInto(
    idHex: string,
    out: Uint8Array,
    signal?: AbortSignal,
    stored?: Uint8Array,
  ): Promise<Uint8Array> {
    return this.decodeChunkInto(idHex, await this.#readStored(idHex, signal, stored), out)
  }

  /** The longest a stored chunk can be (a longer object fails authentication anyway). */
  get storedChunkMax(): number {
    return ENVELOPE_HEADER_LENGTH + GCM_NONCE_LENGTH + this.chunkSize + GCM_TAG_LENGTH
  }

  async #readStored(idHex: string, signal?: AbortSignal, into?: Uint8Array): Promise<Uint8Array> {
    try {
      // A ranged read of the largest possible envelope: it reads the whole object in one buffer, where a
      // plain get may cost a second copy (local store).
      const bytes = await this.store.getRange(chunkKey(idHex), 0, this.storedChunkMax, { signal, into })
      this.tierReads.hotBytes += bytes.length
      return bytes
    } catch (error) {
      if (!isNotFound(error)) throw error
      const chunk = { idHex, what: this.describeChunk(idHex), max: this.storedChunkMax }
      if (this.#cold !== undefined) return readColdChunk(this.#cold, chunk, this.tierReads, signal, into)
      throw new RepositoryError('CHUNK_MISSING', `${this.describeChunk(idHex)} is missing`)
    }
  }

  /** readChunkInto of a stored chunk's bytes (handed over: the caller must not use them afterwards). */
  async decodeChunkInto(idHex: string, bytes: Uint8Array, out: Uint8Array): Promise<Uint8Array> {
    const id = Buffer.from(idHex, 'hex')
    const what = this.describeChunk(idHex)
    const plain = await this.#codec.decodeInto(out, bytes, KIND_CHUNK, id, this.#dataKey, what)
    if (!this.encrypted && !(await this.chunkIdOf(plain)).equals(id)) {
      throw new RepositoryError('CORRUPT_OBJECT', `${what} is corrupt: content does not match its id`)
    }
    return plain
  }

  // --- chunks marked bad by verify ----------------------------------------------------------------------

  async listBad(signal?: AbortSignal): Promise<Set<string>> {
    const bad = new Set<string>()
    for await (const info of this.store.list(PREFIX_BAD, { signal }))
      bad.add(info.key.slice(PREFIX_BAD.length))
    return bad
  }

  /**
   * Marks a chunk bad: writers stop trusting it (their base index, an existing copy) and store it again.
   * verify then moves the chunk itself to quarantine (quarantine.ts).
   */
  async markBad(idHex: string, reason: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.store.put(badKey(idHex), new TextEncoder().encode(reason), { ifNoneMatch: true, signal })
    } catch (error) {
      if (!(error instanceof StorageError && error.code === 'ALREADY_EXISTS')) throw error
    }
  }

  async clearBad(idHex: string, signal?: AbortSignal): Promise<void> {
    await this.store.delete(badKey(idHex), { signal })
  }
}
