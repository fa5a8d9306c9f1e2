// Keys: a random master key, wrapped in key slots under scrypt-derived keys; data and chunk-id subkeys
// are derived from it with HKDF so that one master key serves both without reuse.
import { hkdfSync, randomBytes, randomUUID, scrypt } from 'node:crypto'
import { raceAbort } from '../../shared/index.js'
import { RepositoryError } from '../errors.js'
import { HKDF_INFO_DATA_KEY, HKDF_INFO_ID_KEY, KEY_SLOT_AAD, MASTER_KEY_LENGTH } from '../format/constants.js'
import { checkScryptParams, type KeySlot, type ScryptParams } from '../format/key-slot.js'
import { open, seal } from './seal.js'

export interface RepositoryKeys {
  readonly dataKey: Uint8Array
  readonly idKey: Uint8Array
}

export interface ScryptCost {
  readonly N: number
  readonly r: number
  readonly p: number
}

/**
 * The cost of every new key slot: scrypt N=2^17, r=8 (128 MiB, about 0.4 s per unlock on the reference
 * machine), so that guessing passphrases offline from a copy of the store costs as much. Slots made
 * before with a lower N keep opening.
 */
export const DEFAULT_SCRYPT: ScryptCost = { N: 2 ** 17, r: 8, p: 1 }

/** New passphrases shorter than this (in characters) are refused unless forced. */
export const MIN_PASSPHRASE_LENGTH = 10

/**
 * Refuses a short new passphrase (WEAK_PASSPHRASE) unless `force`. Characters are counted in the
 * secret's UTF-8 text; a secret that is not UTF-8 text (a key file) counts its bytes.
 */
export function checkNewSecret(secret: Uint8Array, force: boolean | undefined, what: string): void {
  if (force === true) return
  let length: number
  try {
    length = [...new TextDecoder('utf-8', { fatal: true }).decode(secret)].length
  } catch {
    length = secret.length
  }
  if (length < MIN_PASSPHRASE_LENGTH) {
    throw new RepositoryError(
      'WEAK_PASSPHRASE',
      `${what}: a passphrase of ${length} characters is too short (at least ${MIN_PASSPHRASE_LENGTH}); ` +
        'choose a longer one, or force it',
    )
  }
}

export function newMasterKey(): Uint8Array {
  return randomBytes(MASTER_KEY_LENGTH)
}

export function deriveKeys(master: Uint8Array): RepositoryKeys {
  const derive = (info: string): Uint8Array =>
    new Uint8Array(hkdfSync('sha256', master, new Uint8Array(0), info, 32))
  return { dataKey: derive(HKDF_INFO_DATA_KEY), idKey: derive(HKDF_INFO_ID_KEY) }
}

export function deriveSlotKey(
  secret: Uint8Array,
  params: ScryptParams,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  const { N, r, p, salt } = params
  checkScryptParams(params, 'key slot') // before scrypt allocates anything
  const derived = new Promise<Uint8Array>((resolve, reject) =>
    scrypt(secret, salt, 32, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 }, (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  )
  return raceAbort(derived, signal)
}

export async function makeKeySlot(
  master: Uint8Array,
  secret: Uint8Array,
  label: string,
  cost: ScryptCost = DEFAULT_SCRYPT,
  signal?: AbortSignal,
): Promise<KeySlot> {
  const kdf: ScryptParams = { ...cost, salt: randomBytes(16) }
  const kek = await deriveSlotKey(secret, kdf, signal)
  const wrapped = Buffer.concat(seal(kek, master, new TextEncoder().encode(KEY_SLOT_AAD)))
  return { id: randomUUID(), label, kdf, wrapped, created: new Date().toISOString() }
}

/** The master key if `secret` opens `slot`, else undefined. */
export async function unwrapKeySlot(
  slot: KeySlot,
  secret: Uint8Array,
  signal?: AbortSignal,
): Promise<Uint8Array | undefined> {
  const kek = await deriveSlotKey(secret, slot.kdf, signal)
  return open(kek, slot.wrapped, new TextEncoder().encode(KEY_SLOT_AAD))
}

export function wrongPassphrase(repository: string): RepositoryError {
  return new RepositoryError(
    'WRONG_PASSPHRASE',
    `wrong passphrase or key file for repository '${repository}'`,
  )
}
