// The key slots of an encrypted repository and the config seal that says which of them to trust.
// Opening tries only the slots the seal lists (a slot planted in the store, or a removed one put back,
// is never tried), then checks the seal's MAC over the config: a config edited behind Strata's back
// is refused (REPOSITORY_CONFIG_CHANGED). A repository made before the seal existed is sealed by the
// first opener holding the key and allowed to write (format/seal.ts says what is covered).
import { isNotFound, StorageError, type ObjectStore } from '../storage/index.js'
import { makeSeal, sealKey, sealMatches } from './crypto/config-seal.js'
import { unwrapKeySlot, wrongPassphrase } from './crypto/keys.js'
import { RepositoryError } from './errors.js'
import type { RepositoryConfig } from './format/config.js'
import { PREFIX_KEYS, PREFIX_SEALS } from './format/constants.js'
import { decodeKeySlot, type KeySlot } from './format/key-slot.js'
import { decodeSeal, encodeSeal, MAX_KEY_SLOTS, slotFingerprint, type ConfigSeal } from './format/seal.js'

/** A key slot object is a few hundred bytes; a seal lists at most MAX_KEY_SLOTS fingerprints. */
const MAX_SLOT_BYTES = 16 * 1024
const MAX_SEAL_BYTES = 16 * 1024

export interface StoredSlot {
  readonly key: string
  readonly bytes: Uint8Array
  readonly fingerprint: string
}

export const sealObjectKey = (repositoryId: string): string => `${PREFIX_SEALS}${repositoryId}`

/** An object read whole, refused (CORRUPT_OBJECT) when longer than `max`: a planted giant never fills memory. */
export async function readBounded(
  store: ObjectStore,
  key: string,
  max: number,
  what: string,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  const bytes = await store.getRange(key, 0, max + 1, { signal })
  if (bytes.length > max)
    throw new RepositoryError('CORRUPT_OBJECT', `${what} is corrupt: larger than ${max} bytes`)
  return bytes
}

export async function readSlots(store: ObjectStore, signal?: AbortSignal): Promise<StoredSlot[]> {
  const slots: StoredSlot[] = []
  for await (const info of store.list(PREFIX_KEYS, { signal })) {
    if (slots.length === MAX_KEY_SLOTS) {
      throw new RepositoryError(
        'CORRUPT_OBJECT',
        `'${store.name}' holds more than ${MAX_KEY_SLOTS} key slots`,
      )
    }
    const what = `key slot '${info.key}' in '${store.name}'`
    const bytes = await readBounded(store, info.key, MAX_SLOT_BYTES, what, signal)
    slots.push({ key: info.key, bytes, fingerprint: slotFingerprint(bytes) })
  }
  return slots
}

export async function readSeal(
  store: ObjectStore,
  config: RepositoryConfig,
  signal?: AbortSignal,
): Promise<ConfigSeal | undefined> {
  const key = sealObjectKey(config.id)
  const what = `config seal '${key}' in '${store.name}'`
  try {
    return decodeSeal(await readBounded(store, key, MAX_SEAL_BYTES, what, signal), what)
  } catch (error) {
    if (isNotFound(error)) return undefined
    throw error
  }
}

export function configChanged(repository: string, why: string, details: Record<string, unknown> = {}) {
  return new RepositoryError(
    'REPOSITORY_CONFIG_CHANGED',
    `the configuration of repository '${repository}' changed behind Strata's back (${why}); it is not used`,
    { details },
  )
}

export interface Unlocked {
  readonly master: Uint8Array
  /** The seal checked with the master key, or undefined for a repository not sealed yet. */
  readonly seal: ConfigSeal | undefined
  readonly slots: readonly StoredSlot[]
}

/** The master key from the first trusted slot `secret` opens; the seal checked against the config. */
export async function unlock(
  store: ObjectStore,
  config: RepositoryConfig,
  secret: Uint8Array,
  signal?: AbortSignal,
): Promise<Unlocked> {
  const seal = await readSeal(store, config, signal)
  const slots = await readSlots(store, signal)
  const trusted = seal === undefined ? slots : slots.filter((s) => seal.slots.includes(s.fingerprint))
  let refused: RepositoryError | undefined
  for (const slot of trusted) {
    const decoded = decodeSlot(slot, store.name)
    if (decoded instanceof RepositoryError) {
      refused ??= decoded
      continue
    }
    const master = await unwrapKeySlot(decoded, secret, signal)
    if (master === undefined) continue
    if (seal !== undefined && !sealMatches(sealKey(master), config, seal))
      throw configChanged(store.name, 'the config or the list of key slots does not match its seal')
    return { master, seal, slots }
  }
  if (refused !== undefined) throw refused
  const error = wrongPassphrase(store.name)
  const ignored = slots.length - trusted.length
  if (ignored > 0) error.details.untrustedSlots = ignored
  throw error
}

/** A slot whose KDF parameters are refused is skipped (and reported if no other slot opens). */
function decodeSlot(slot: StoredSlot, storeName: string): KeySlot | RepositoryError {
  try {
    return decodeKeySlot(slot.bytes, `key slot '${slot.key}' in '${storeName}'`)
  } catch (error) {
    if (error instanceof RepositoryError && error.code === 'KDF_OUT_OF_BOUNDS') return error
    throw error
  }
}

/**
 * Writes the seal of `config` over these slot fingerprints. `create`: only if none exists (a
 * repository being created or sealed for the first time; ALREADY_EXISTS is left to the caller);
 * otherwise the seal is replaced (a key slot added or removed).
 */
export async function writeSeal(
  store: ObjectStore,
  config: RepositoryConfig,
  master: Uint8Array,
  slots: readonly string[],
  create: boolean,
  signal?: AbortSignal,
): Promise<void> {
  const seal = makeSeal(sealKey(master), config, slots)
  await store.put(sealObjectKey(config.id), encodeSeal(seal), { ifNoneMatch: create, signal })
}

/**
 * Seals a repository made before the seal existed, trusting the slots present now. A store that
 * refuses the write (read-only credentials) leaves it unsealed; a concurrent opener that sealed it first
 * is checked instead. Resolves to whether the repository is sealed.
 */
export async function sealLegacy(
  store: ObjectStore,
  config: RepositoryConfig,
  unlocked: Unlocked,
  signal?: AbortSignal,
): Promise<boolean> {
  try {
    const fingerprints = unlocked.slots.map((s) => s.fingerprint)
    await writeSeal(store, config, unlocked.master, fingerprints, true, signal)
    return true
  } catch (error) {
    if (!(error instanceof StorageError)) throw error
    if (error.code === 'ACCESS_DENIED') return false
    if (error.code !== 'ALREADY_EXISTS') throw error
  }
  const seal = await readSeal(store, config, signal)
  if (seal === undefined || !sealMatches(sealKey(unlocked.master), config, seal))
    throw configChanged(store.name, 'a seal appeared that does not match its config')
  return true
}

/** The fingerprints the stored seal trusts now, checked (another process may have changed them). */
export async function trustedSlots(
  store: ObjectStore,
  config: RepositoryConfig,
  master: Uint8Array,
  signal?: AbortSignal,
): Promise<string[] | undefined> {
  const seal = await readSeal(store, config, signal)
  if (seal === undefined) return undefined
  if (!sealMatches(sealKey(master), config, seal))
    throw configChanged(store.name, 'the config or the list of key slots does not match its seal')
  return [...seal.slots]
}

/** The first key slot or seal in the store, if any: what only an encrypted repository holds. */
export async function firstKeyObject(store: ObjectStore, signal?: AbortSignal): Promise<string | undefined> {
  for (const prefix of [PREFIX_KEYS, PREFIX_SEALS]) {
    for await (const info of store.list(prefix, { signal })) return info.key
  }
  return undefined
}

/**
 * A repository whose config says "not encrypted" but that holds key slots or a seal was encrypted and
 * had its config edited; a passphrase given for a plain repository is an error, never ignored.
 */
export async function checkPlain(
  store: ObjectStore,
  passphraseGiven: boolean,
  signal?: AbortSignal,
): Promise<void> {
  const key = await firstKeyObject(store, signal)
  if (key !== undefined)
    throw configChanged(store.name, `its config says it is not encrypted, yet it holds '${key}'`)
  if (passphraseGiven) {
    throw new RepositoryError(
      'REPOSITORY_NOT_ENCRYPTED',
      `repository '${store.name}' is not encrypted, yet a passphrase was given: if it should be ` +
        'encrypted, its config was changed; do not use it',
    )
  }
}
