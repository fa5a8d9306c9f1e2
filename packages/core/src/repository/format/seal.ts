// The config seal (object 'seals/<repository id>', encrypted repositories): an HMAC under a key derived
// from the master key over the canonical config and the fingerprints of the key slots it trusts, so
// that a config edited behind Strata's back (encryption turned off, another chunk size) or a key slot
// planted in the store is noticed by anyone who holds the key. Pure layout code: the MAC itself is
// computed by crypto/config-seal.ts. The fingerprint of the canonical config (without the slots) is
// what the server and jobs record to notice a change when no key is at hand (a plain repository, a
// seal removed).
import { createHash } from 'node:crypto'
import { RepositoryError } from '../errors.js'
import type { RepositoryConfig } from './config.js'
import { REPOSITORY_FORMAT, REPOSITORY_VERSION } from './constants.js'
import { JsonReader, encodeJson } from './json.js'

export const SEAL_VERSION = 1
/** First element of the canonical arrays: a MAC or a fingerprint of one can never pass as the other. */
export const CANONICAL_CONFIG_LABEL = 'strata/v1/config'
export const CANONICAL_SEAL_LABEL = 'strata/v1/config-seal'
/** The most key slots a repository may hold (every input bounded: opening tries each). */
export const MAX_KEY_SLOTS = 64

export interface ConfigSeal {
  /** Hex SHA-256 of each trusted key slot object's bytes, sorted. */
  readonly slots: readonly string[]
  /** HMAC-SHA-256 (32 bytes). */
  readonly mac: Uint8Array
}

const HEX64 = /^[0-9a-f]{64}$/

function configFields(config: RepositoryConfig): unknown[] {
  return [
    REPOSITORY_FORMAT,
    REPOSITORY_VERSION,
    config.id,
    config.chunkSize,
    config.encryption,
    config.compressionLevel,
    config.created,
    // Only when set, so that the fingerprints of repositories made before it stay what was recorded.
    ...(config.immutable ? [['immutable', config.immutable.seconds, config.immutable.mode]] : []),
  ]
}

/** The bytes the recorded fingerprint is the SHA-256 of: every field of the config, in a fixed order. */
export function canonicalConfig(config: RepositoryConfig): Uint8Array {
  return encodeJson([CANONICAL_CONFIG_LABEL, ...configFields(config)])
}

/** Hex SHA-256 of the canonical config: what a server or a job records at first use. */
export function configFingerprint(config: RepositoryConfig): string {
  return createHash('sha256').update(canonicalConfig(config)).digest('hex')
}

/** The bytes the seal's MAC covers: the config's fields and the sorted slot fingerprints. */
export function canonicalSealInput(config: RepositoryConfig, slots: readonly string[]): Uint8Array {
  return encodeJson([CANONICAL_SEAL_LABEL, ...configFields(config), [...slots].sort()])
}

/** Hex SHA-256 of a key slot object's bytes as stored. */
export function slotFingerprint(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

export function encodeSeal(seal: ConfigSeal): Uint8Array {
  return encodeJson({
    version: SEAL_VERSION,
    slots: [...seal.slots].sort(),
    mac: Buffer.from(seal.mac).toString('hex'),
  })
}

export function decodeSeal(bytes: Uint8Array, what: string): ConfigSeal {
  const r = JsonReader.parse(bytes, what)
  const version = r.integer('version')
  if (version !== SEAL_VERSION)
    throw new RepositoryError('UNSUPPORTED_VERSION', `${what} has version ${version}; this Strata reads 1`)
  const slots = r.strings('slots')
  if (slots.length > MAX_KEY_SLOTS || !slots.every((s) => HEX64.test(s)))
    throw new RepositoryError('CORRUPT_OBJECT', `${what} is corrupt: bad slot fingerprints`)
  const mac = r.string('mac')
  if (!HEX64.test(mac)) throw new RepositoryError('CORRUPT_OBJECT', `${what} is corrupt: bad MAC`)
  return { slots, mac: Buffer.from(mac, 'hex') }
}
